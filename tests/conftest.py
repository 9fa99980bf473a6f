"""Shared test configuration: makes `tests/` importable for its helpers (world, builders)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
