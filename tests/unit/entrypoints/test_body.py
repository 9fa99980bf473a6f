"""A request body is parsed once; bodies nested deeper than MAX_DEPTH count as not JSON (issue 11)."""
import pytest
from aiohttp.test_utils import make_mocked_request

from entrypoints.http import body as body_module
from entrypoints.http.body import MAX_DEPTH, NOT_JSON, parsed_body


def request_with(raw: bytes):
    request = make_mocked_request("POST", "/x", headers={"Content-Type": "application/json"})

    async def read() -> bytes:
        return raw
    request.read = read
    return request


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"a": [1, {"b": 2}]}', {"a": [1, {"b": 2}]}),
    (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, None),
    (b"not json", NOT_JSON),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), NOT_JSON),
    (b"[" * 200_000 + b"]" * 200_000, NOT_JSON),  # past the parser's own recursion limit
])
async def test_bodies_are_parsed_or_refused(raw, expected):
    value = await parsed_body(request_with(raw))
    if expected is None:
        assert isinstance(value, list)
    else:
        assert value is expected if expected is NOT_JSON else value == expected


def test_the_depth_check_does_not_recurse():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert body_module._too_deep(deep)
    assert not body_module._too_deep({"a": [1, 2, {"b": "c"}]})
