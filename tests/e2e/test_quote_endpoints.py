"""GET /api/v1/payments/receives/quote and GET /api/v1/payments/plan/quote through a real server:
the figures a purchase or a plan change made at that moment gives, nothing written to the
database (every table compared row by row, on SQLite and PostgreSQL), a pending plan change left
pending, the bearer token required (401) and bad input refused (422)."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from dependency_injector import providers
from e2e_support import (
    JWT_SECRET,
    MOCK_SECRET,
    PLAN,
    RECEIVES,
    buy,
    change_plan,
    error_of,
    membership,
    ok,
    pay,
    session,
    transaction,
)

from entrypoints.config import load_config
from entrypoints.container import build_container
from entrypoints.http.app import create_app

RECEIVES_QUOTE = f"{RECEIVES}/quote"
PLAN_QUOTE = f"{PLAN}/quote"
PLAN_QUOTE_KEYS = {"kind", "proration", "effective_at", "currency"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_url(request) -> str:
    """The database URL of a fresh SQLite file or of a clean PostgreSQL database."""
    return request.getfixturevalue("fresh_sqlite_url" if request.param == "sqlite" else "clean_postgres_url")


@pytest.fixture
async def sql_api(sql_url, api, aiohttp_client, tmp_path, clock):
    """The app over the SQL adapter (as `payments serve` builds it) on the fixed `clock`, served by a
    real test server, with the `api` fixture's client helpers."""
    config = load_config({"PAYMENTS_JWT_SECRET": JWT_SECRET, "PAYMENTS_MOCK_WEBHOOK_SECRET": MOCK_SECRET,
                          "PAYMENTS_PUBLIC_URL": "http://payments.test", "PAYMENTS_DATABASE_URL": sql_url,
                          "PAYMENTS_MOCK_STATE_PATH": str(tmp_path / "mock.sqlite3")})
    container = build_container(config)
    container.adapters.clock.override(providers.Object(clock))
    return type(api)(await aiohttp_client(create_app(container, background_jobs=False)), container)


def database_rows(url: str) -> dict[str, list[str]]:
    """Every row of every table of the database at `url` (reflected, so none is left out)."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        tables = sa.MetaData()
        tables.reflect(engine)
        with engine.connect() as connection:
            return {name: sorted(repr(tuple(row)) for row in connection.execute(sa.select(table)))
                    for name, table in tables.tables.items()}
    finally:
        engine.dispose()


async def quote_plan(api, new_plan: str, user: str = "u1") -> dict:
    body = await ok(await api.get(PLAN_QUOTE, params={"new_plan": new_plan}, user=user))
    assert set(body) == PLAN_QUOTE_KEYS and body["currency"] == "CNY", body
    return body


async def become(api, plan: str, user: str = "u1") -> None:
    status, started = await change_plan(api, plan, "alipay", user=user)
    assert status == 201, started
    await pay(api, started["session"])
    assert (await membership(api, user))["plan"] == plan


# ---------------------------------------------------------------- receives
async def test_a_receives_quote_answers_the_contracts_example(api):
    body = await ok(await api.get(RECEIVES_QUOTE, params={"amount": "7"}))

    assert body == {"amount": 7, "subtotal": 1400, "discount": 140, "total": 1260, "currency": "CNY"}


@pytest.mark.parametrize(("amount", "total"), [(1, 200), (5, 900), (10, 1700), (20, 3200), (100, 16000)])
async def test_a_receives_quote_prices_each_tier(api, amount, total):
    body = await ok(await api.get(RECEIVES_QUOTE, params={"amount": str(amount)}))

    assert (body["amount"], body["total"], body["subtotal"] - body["discount"]) == (amount, total, total)


async def test_a_receives_quote_writes_nothing_and_is_what_the_purchase_then_charges(sql_api, sql_url):
    before = database_rows(sql_url)

    quote = await ok(await sql_api.get(RECEIVES_QUOTE, params={"amount": "33"}))

    assert database_rows(sql_url) == before
    t = (await buy(sql_api, 33, "mock"))["transaction"]
    assert (t["receives"], t["subtotal"], t["discount"], t["total"], t["currency"]) == (
        quote["amount"], quote["subtotal"], quote["discount"], quote["total"], quote["currency"])


# ---------------------------------------------------------------- plans
async def test_a_user_without_a_membership_is_quoted_basic_figures_and_still_has_no_record(sql_api, sql_url):
    before = database_rows(sql_url)

    upgrade = await quote_plan(sql_api, "pro", user="newcomer")
    unchanged = await quote_plan(sql_api, "basic", user="newcomer")

    assert database_rows(sql_url) == before  # no membership row, no ledger entry, no allowance grant
    assert upgrade == {"kind": "upgrade", "proration": {"credit": 0, "debit": 2900, "charge": 2900, "period_end": None},
                       "effective_at": None, "currency": "CNY"}
    assert unchanged == {"kind": "unchanged", "proration": None, "effective_at": None, "currency": "CNY"}
    await membership(sql_api, user="newcomer")  # first use does create the record: the comparison sees it
    assert database_rows(sql_url) != before


@pytest.mark.parametrize("elapsed", [timedelta(days=9, hours=7, minutes=13, seconds=29), timedelta(days=30, hours=5)])
async def test_a_mid_period_upgrade_between_paid_plans_is_quoted_as_post_plan_then_charges_it(
        sql_api, sql_url, clock, elapsed):
    await become(sql_api, "pro")
    clock.advance(elapsed)
    before = database_rows(sql_url)

    quote = await quote_plan(sql_api, "vip")

    assert database_rows(sql_url) == before
    assert quote["kind"] == "upgrade" and quote["effective_at"] is None
    assert 0 < quote["proration"]["credit"] < 2900 and quote["proration"]["period_end"] is not None
    status, started = await change_plan(sql_api, "vip", "wechat_pay")
    assert status == 201, started
    assert started["proration"] == quote["proration"]
    assert (started["transaction"]["total"], started["session"]["amount"]) == (quote["proration"]["charge"],) * 2


async def test_a_quote_leaves_a_pending_upgrade_pending_and_writes_nothing(sql_api, sql_url):
    status, pending = await change_plan(sql_api, "pro", "alipay")
    assert status == 201, pending
    before = database_rows(sql_url)

    quote = await quote_plan(sql_api, "vip")

    assert database_rows(sql_url) == before
    assert quote["proration"] == {"credit": 0, "debit": 5900, "charge": 5900, "period_end": None}  # from basic
    assert (await transaction(sql_api, pending["transaction"]["id"]))["transaction"]["status"] == "pending"
    assert (await session(sql_api, pending["session"]["id"]))["status"] == "open"
    assert (await membership(sql_api))["plan"] == "basic"


async def test_a_downgrade_is_quoted_for_the_period_end_as_post_plan_then_schedules_it(sql_api, clock):
    await become(sql_api, "vip")
    clock.advance(timedelta(days=4))

    quote = await quote_plan(sql_api, "pro")

    assert (quote["kind"], quote["proration"]) == ("downgrade", None)
    assert quote["effective_at"] == (await membership(sql_api))["current_period_end"]
    status, scheduled = await change_plan(sql_api, "pro", None)
    assert status == 200 and scheduled["effective_at"] == quote["effective_at"], scheduled


async def test_the_current_plan_is_quoted_unchanged_and_a_scheduled_change_stays(sql_api, sql_url):
    await become(sql_api, "pro")
    assert (await quote_plan(sql_api, "pro"))["kind"] == "unchanged"
    status, _ = await change_plan(sql_api, "basic", None)
    assert status == 200
    before = database_rows(sql_url)

    quote = await quote_plan(sql_api, "pro")

    assert quote == {"kind": "unchanged", "proration": None, "effective_at": None, "currency": "CNY"}
    assert database_rows(sql_url) == before
    assert (await membership(sql_api))["scheduled_change"]["plan"] == "basic"


# ---------------------------------------------------------------- 401 and 422
@pytest.mark.parametrize(("path", "params"), [(RECEIVES_QUOTE, {"amount": "7"}), (PLAN_QUOTE, {"new_plan": "vip"})])
async def test_a_quote_needs_the_bearer_token(sql_api, path, params):
    await error_of(await sql_api.get(path, params=params, user=None), 401, "unauthorized")
    await error_of(await sql_api.get(path, params=params, headers={"Authorization": "Bearer not-a-token"},
                                     user=None), 401, "unauthorized")


@pytest.mark.parametrize("query", [
    "", "amount=", "amount=0", "amount=101", "amount=-3", "amount=7.5", "amount=7.0", "amount=1e2", "amount=abc",
    "amount=1_0", "amount=%207", "amount=%D9%A7", "amount=true", "amount=99999999999999999999999",
])
async def test_a_receives_quote_without_a_whole_amount_of_1_to_100_is_refused_on_amount(api, query):
    error = await error_of(await api.get(f"{RECEIVES_QUOTE}?{query}"), 422, "validation_error")

    assert set(error["details"]) == {"amount"} and error["details"]["amount"], error


@pytest.mark.parametrize("query", ["", "new_plan=", "new_plan=gold", "new_plan=PRO", "new_plan=pro%20"])
async def test_a_plan_quote_without_a_known_new_plan_is_refused_on_new_plan(api, query):
    error = await error_of(await api.get(f"{PLAN_QUOTE}?{query}"), 422, "validation_error")

    assert set(error["details"]) == {"new_plan"} and error["details"]["new_plan"], error


@pytest.mark.parametrize(("path", "query"), [(RECEIVES_QUOTE, "amount=7&payment_method=mock"),
                                             (PLAN_QUOTE, "new_plan=vip&payment_method=alipay")])
async def test_a_quote_refuses_an_unknown_query_parameter(api, path, query):
    error = await error_of(await api.get(f"{path}?{query}"), 422, "validation_error")

    assert "payment_method" in error["details"], error


async def test_both_quotes_are_in_the_openapi_document_with_their_query_parameters(api):
    response = await api.client.get("/api/docs/swagger.json")
    assert response.status == 200
    document = await response.json()

    for path, parameter in ((RECEIVES_QUOTE, "amount"), (PLAN_QUOTE, "new_plan")):
        operation = document["paths"][path]["get"]
        assert operation["security"] == [{"bearerAuth": []}]
        assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == [parameter]
        assert {"200", "401", "422"} <= set(operation["responses"])
