"""Bearer tokens: HS256 JWTs with `sub` and `exp`, verified with PAYMENTS_JWT_SECRET; roles."""
import base64
import json
import time
import warnings

import jwt
import pytest

from e2e_support import CONSUME, JWT_SECRET, MEMBERSHIP, MOCK_SECRET, buy, error_of, ok, transaction_count

AUTHENTICATED = [
    ("POST", "/api/v1/payments/receives", {"amount": 1, "payment_method": "wechat_pay"}),
    ("POST", "/api/v1/payments/plan", {"new_plan": "pro", "payment_method": "alipay"}),
    ("GET", "/api/v1/payments/transactions", None),
    ("GET", "/api/v1/payments/transactions/txn_1", None),
    ("GET", "/api/v1/payments/methods", None),
    ("POST", "/api/v1/payments/sessions", {"transaction_id": "txn_1"}),
    ("GET", "/api/v1/payments/sessions/ps_1", None),
    ("POST", "/api/v1/payments/cancel", {"transaction_id": "txn_1"}),
    ("GET", "/api/v1/payments/membership", None),
    ("GET", "/api/v1/payments/pricing", None),
    ("POST", "/api/v1/internal/receives/consume", {"user_id": "u1", "count": 1, "reference": "m"}),
]


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def hs256(claims: dict, secret: str = JWT_SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def claims(**changes) -> dict:
    now = int(time.time())
    base = {"sub": "u1", "iat": now, "exp": now + 600}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def hs512() -> str:
    with warnings.catch_warnings():  # PyJWT warns that this key is short for HS512: the point is elsewhere
        warnings.simplefilter("ignore")
        return jwt.encode(claims(), JWT_SECRET, algorithm="HS512")


BAD_AUTHORIZATION = {
    "no scheme": lambda: hs256(claims()),
    "basic scheme": lambda: "Basic dTE6cGFzc3dvcmQ=",
    "empty bearer": lambda: "Bearer ",
    "not a jwt": lambda: "Bearer abc.def.ghi",
    "expired": lambda: f"Bearer {hs256(claims(exp=int(time.time()) - 10))}",
    "wrong secret": lambda: f"Bearer {hs256(claims(), 'another-secret-that-is-long-enough-0123456789')}",
    "alg none": lambda: f"Bearer {b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}.",
    "alg none with a signature": lambda: "Bearer " + ".".join(
        [b64({"alg": "none", "typ": "JWT"}), b64(claims()), hs256(claims()).rsplit(".", 1)[1]]),
    "HS512": lambda: f"Bearer {hs512()}",
    "no exp": lambda: f"Bearer {hs256(claims(exp=None))}",
    "no sub": lambda: f"Bearer {hs256(claims(sub=None))}",
    "empty sub": lambda: f"Bearer {hs256(claims(sub=''))}",
    "numeric sub": lambda: f"Bearer {hs256(claims(sub=42))}",
    "not yet valid": lambda: f"Bearer {hs256(claims(nbf=int(time.time()) + 600))}",
    "tampered payload": lambda: (lambda t: "Bearer " + ".".join(
        [t.split(".")[0], b64(claims(sub="admin")), t.split(".")[2]]))(hs256(claims())),
}


@pytest.mark.parametrize("case", list(BAD_AUTHORIZATION))
async def test_a_missing_or_invalid_token_is_unauthorized(api, case):
    response = await api.get(MEMBERSHIP, user=None, headers={"Authorization": BAD_AUTHORIZATION[case]()})

    await error_of(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "body"), AUTHENTICATED)
async def test_every_api_endpoint_but_the_webhooks_needs_a_token(api, method, path, body):
    response = await api.client.request(method, path, json=body)

    await error_of(response, 401, "unauthorized")


@pytest.mark.parametrize("case", ["expired", "alg none", "HS512", "no sub"])
async def test_a_refused_token_changes_nothing(api, case):
    response = await api.post("/api/v1/payments/receives", {"amount": 1, "payment_method": "wechat_pay"},
                              user=None, headers={"Authorization": BAD_AUTHORIZATION[case]()})

    await error_of(response, 401, "unauthorized")
    assert await transaction_count(api) == 0


async def test_a_valid_token_names_the_user(api):
    await buy(api, 1, user="alice")

    assert await transaction_count(api, "alice") == 1
    assert await transaction_count(api, "bob") == 0


async def test_the_scheme_name_is_case_insensitive(api):
    response = await api.get(MEMBERSHIP, user=None, headers={"Authorization": f"bearer {hs256(claims())}"})

    await ok(response)


async def test_the_token_is_not_taken_from_the_query_string_of_ordinary_endpoints(api):
    response = await api.client.get(MEMBERSHIP, params={"access_token": hs256(claims())})

    await error_of(response, 401, "unauthorized")


async def test_the_service_role_comes_only_from_a_verified_token(api):
    forged = "Bearer " + ".".join([b64({"alg": "none", "typ": "JWT"}), b64(claims(role="service")), ""])

    response = await api.client.post(CONSUME, json={"user_id": "u1", "count": 1, "reference": "m"},
                                     headers={"Authorization": forged})

    await error_of(response, 401, "unauthorized")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/api/docs", "/api/docs/swagger.json"])
async def test_operational_endpoints_and_the_docs_need_no_token(api, path):
    response = await api.client.get(path)

    assert response.status == 200


async def test_a_webhook_needs_no_token_but_its_own_signature(api):
    response = await api.client.post("/api/v1/payments/webhooks/mock", data=b"{}")

    await error_of(response, 401, "unauthorized", charset=None)


async def test_the_secrets_these_tests_forge_with_are_the_apps(api):
    config = api.container.config()

    assert (config.jwt_secret, config.mock_webhook_secret) == (JWT_SECRET, MOCK_SECRET)
