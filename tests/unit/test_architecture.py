"""The layers' rules, checked on every test run: imports point inward (import-linter's contracts
in setup.cfg) and the domain imports nothing but the standard library and attrs."""
import ast
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contracts_hold():
    # In its own process: import-linter reconfigures logging, which would leak into other tests.
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--config", str(ROOT / "setup.cfg"),
                             "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _imported_top_level_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_domain_imports_only_the_standard_library_and_attrs():
    allowed = set(sys.stdlib_module_names) | {"attrs", "domain", "__future__"}
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_top_level_names(path) - allowed)
        for path in (ROOT / "domain").rglob("*.py")
    }
    assert {module: names for module, names in offenders.items() if names} == {}
