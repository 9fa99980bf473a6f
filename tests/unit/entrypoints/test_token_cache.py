"""The token verifier remembers verified tokens only until they expire."""
import time

import jwt
import pytest

from entrypoints.http.auth import Principal, TokenVerifier
from entrypoints.http.errors import ApiError

SECRET = "token-cache-test-secret-0123456789abcdef"


def token(exp: int, sub: str = "alice") -> str:
    return jwt.encode({"sub": sub, "exp": exp}, SECRET, algorithm="HS256")


def test_a_cached_token_is_refused_once_it_expires():
    now = int(time.time())
    clock = [now]
    verifier = TokenVerifier(SECRET, now=lambda: clock[0])
    short_lived = token(now + 60)
    assert verifier.verify(short_lived) == Principal("alice")
    assert verifier.verify(short_lived) == Principal("alice")  # from the cache

    clock[0] = now + 60
    with pytest.raises(ApiError) as refused:
        verifier.verify(short_lived)
    assert refused.value.status == 401


def test_a_token_signed_with_another_key_is_never_cached_as_valid():
    verifier = TokenVerifier(SECRET)
    forged = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, "another-secret-0123456789abcdef0123",
                        algorithm="HS256")
    for _ in range(2):
        with pytest.raises(ApiError):
            verifier.verify(forged)
