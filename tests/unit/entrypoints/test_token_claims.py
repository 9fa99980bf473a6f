"""The verifier's claim checks (issue 11): `exp` at most the longest lifetime ahead, a `role` that
is not a string and a `sub` with NUL refused as 401, never a 500."""
import time

import jwt
import pytest

from entrypoints.http.auth import DEFAULT_MAX_TTL_SECONDS, Principal, TokenVerifier
from entrypoints.http.errors import ApiError

SECRET = "token-claims-test-secret-0123456789abcdef"


def token(**claims) -> str:
    return jwt.encode({"sub": "alice", "exp": int(time.time()) + 60, **claims}, SECRET, algorithm="HS256")


def refused(verifier: TokenVerifier, raw: str) -> int:
    with pytest.raises(ApiError) as error:
        verifier.verify(raw)
    return error.value.status


def test_the_longest_lifetime_is_a_day_by_default():
    assert DEFAULT_MAX_TTL_SECONDS == 86400
    now = time.time()
    verifier = TokenVerifier(SECRET, now=lambda: now)
    assert verifier.verify(token(exp=now + 86400)) == Principal("alice")
    assert refused(verifier, token(exp=now + 86401)) == 401
    assert refused(verifier, token(exp=10**12)) == 401  # "forever"


def test_the_longest_lifetime_is_the_verifiers_setting():
    verifier = TokenVerifier(SECRET, max_ttl_seconds=120)
    assert verifier.verify(token(exp=int(time.time()) + 60)) == Principal("alice")
    assert refused(verifier, token(exp=int(time.time()) + 600)) == 401


@pytest.mark.parametrize("role", [["admin"], {"admin": True}, 1, 1.5, True, False])
def test_a_role_that_is_not_a_string_is_refused(role):
    assert refused(TokenVerifier(SECRET), token(role=role)) == 401


@pytest.mark.parametrize(("role", "kept"), [("admin", "admin"), ("service", "service"), ("root", None), (None, None)])
def test_a_string_role_is_kept_when_known(role, kept):
    assert TokenVerifier(SECRET).verify(token(role=role)) == Principal("alice", kept)


@pytest.mark.parametrize("sub", ["al\x00ice", "\x00"])
def test_a_subject_with_nul_is_refused(sub):
    assert refused(TokenVerifier(SECRET), token(sub=sub)) == 401
