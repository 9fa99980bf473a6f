"""Id generation from the operating system's random source, and ids derived with a keyed HMAC."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from datetime import datetime

_ALPHABET = string.ascii_uppercase + string.digits


class RandomIdGenerator:
    """`txn_` + 24 hex characters; order ids `P20261127` + 12 random letters and digits (21
    characters, 36^12 ≈ 4.7e18 per day and kind: collisions are left to the unique constraints).

    Derived ids are an HMAC-SHA256 of their seed under the server's `secret`
    (`PAYMENTS_ID_SECRET`): the seed (user, body, Idempotency-Key) is known to the client, so an
    unkeyed hash would let anyone who knows it predict the ids."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the id secret must not be empty")
        self._secret = secret.encode()

    def _digest(self, seed: str) -> bytes:
        return hmac.new(self._secret, seed.encode(), hashlib.sha256).digest()

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    def derived_id(self, prefix: str, seed: str) -> str:
        return f"{prefix}_{self._digest(seed).hex()[:24]}"

    def derived_order_id(self, kind: str, seed: str) -> str:
        digest = int.from_bytes(self._digest(seed)[:16], "big")
        suffix = ""
        while len(suffix) < 20:
            digest, digit = divmod(digest, 36)
            suffix += _ALPHABET[digit]
        return f"{kind}{suffix}"

    def new_order_id(self, kind: str, now: datetime) -> str:
        suffix = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        return f"{kind}{now:%Y%m%d}{suffix}"
