"""Id generation from the operating system's random source."""
from __future__ import annotations

import hashlib
import secrets
import string
from datetime import datetime

_ALPHABET = string.ascii_uppercase + string.digits


class RandomIdGenerator:
    """`txn_` + 24 hex characters; order ids `P20261127` + 12 random letters and digits (21
    characters, 36^12 ≈ 4.7e18 per day and kind: collisions are left to the unique constraints)."""

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    def derived_id(self, prefix: str, seed: str) -> str:
        return f"{prefix}_{hashlib.sha256(seed.encode()).hexdigest()[:24]}"

    def derived_order_id(self, kind: str, seed: str) -> str:
        digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:16], "big")
        suffix = ""
        while len(suffix) < 20:
            digest, digit = divmod(digest, 36)
            suffix += _ALPHABET[digit]
        return f"{kind}{suffix}"

    def new_order_id(self, kind: str, now: datetime) -> str:
        suffix = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        return f"{kind}{now:%Y%m%d}{suffix}"
