"""Bearer JWT verification: HS256 only (the algorithm is pinned, `alg: none` and every other one
refused), `exp` and `sub` required, `exp` at most `PAYMENTS_JWT_MAX_TTL_SECONDS` (default 24 h)
ahead, so no token lives forever. Roles: `admin`, `service`; a `role` that is not a string is
refused (401)."""
from __future__ import annotations

import time
from collections.abc import Callable

import attrs
import jwt
from aiohttp import web

from entrypoints.http.errors import forbidden, unauthorized
from entrypoints.http.keys import PRINCIPAL

ROLES = frozenset({"admin", "service"})
DEFAULT_MAX_TTL_SECONDS = 24 * 3600  # PAYMENTS_JWT_MAX_TTL_SECONDS


@attrs.frozen
class Principal:
    user_id: str
    role: str | None = None
    expires_at: float | None = attrs.field(default=None, eq=False)  # the token's `exp`, epoch seconds


class TokenVerifier:
    """Verifies bearer tokens, remembering the last few thousand it verified until they expire
    (frontends poll with the same token many times a second; a signature check is ~35 µs)."""

    CACHE_SIZE = 4096

    def __init__(self, secret: str, now: Callable[[], float] = time.time, *,
                 max_ttl_seconds: float = DEFAULT_MAX_TTL_SECONDS) -> None:
        self._secret = secret
        self._now = now
        self._max_ttl = max_ttl_seconds
        self._verified: dict[str, tuple[Principal, float]] = {}

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            if cached[1] > self._now():
                return cached[0]
            del self._verified[token]
        principal, expires = self._check(token)
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _check(self, token: str) -> tuple[Principal, float]:
        try:
            # PyJWT checks the signature, the algorithm and that the claims are there; the expiry is
            # checked here, against the same clock as the cache.
            claims = jwt.decode(token, self._secret, algorithms=["HS256"],
                                options={"require": ["exp", "sub"], "verify_exp": False})
        except jwt.PyJWTError:
            raise unauthorized("The bearer token is missing, expired or invalid.") from None
        expires = claims["exp"]  # a NumericDate: seconds, possibly fractional
        if isinstance(expires, bool) or not isinstance(expires, (int, float)) or expires <= self._now():
            raise unauthorized("The bearer token is missing, expired or invalid.")
        if expires > self._now() + self._max_ttl:
            raise unauthorized("The bearer token lives too long (its exp is too far ahead).")
        subject, role = claims.get("sub"), claims.get("role")
        # NUL is refused because PostgreSQL cannot store it (SQLite can): both answer alike.
        if not isinstance(subject, str) or not subject or len(subject) > 255 or "\x00" in subject:
            raise unauthorized("The bearer token has no valid subject.")
        if role is not None and not isinstance(role, str):
            raise unauthorized("The bearer token's role is not a string.")
        return Principal(subject, role if role in ROLES else None, expires), expires

    def from_header(self, header: str | None) -> Principal:
        if not header:
            raise unauthorized()
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("Use the Bearer authorization scheme.")
        return self.verify(token.strip())


def require_role(principal: Principal, role: str) -> None:
    if principal.role != role:
        raise forbidden(f"This needs the {role} role.")


def caller(request: web.Request) -> str:
    """The user id of the request's authenticated caller (set by the authentication middleware)."""
    return request[PRINCIPAL].user_id
