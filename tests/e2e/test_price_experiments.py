"""Price experiments through HTTP (the contract's "Price experiments (A/B tests)"): the admin creates
(201 draft), starts (200 running; 409 invalid_state while another runs) and stops (200 stopped)
experiments; users are assigned by the hash of experiment and user id and keep their variant;
`GET /pricing`, quotes, purchases and plan changes use the user's prices and transactions carry
`price_variant` (user and admin views); after a stop everyone sees the catalog and a transaction
made before keeps its prices, as does one made before the start and paid during it; results
computed from known data are exact; 10,000 users shown their prices land within 2 % of the
weights; errors in the contract's shape (422, 403, 404)."""
from __future__ import annotations

from statistics import NormalDist

import pytest

from domain.experiment import PriceVariant, assign
from e2e_support import PRICING, SESSIONS, assert_transaction, buy, change_plan, error_of, ok, pay, transaction

EXPERIMENTS = "/api/v1/admin/experiments"
EXPERIMENT = "receives-2027q1"
DEFINITION = {"id": EXPERIMENT, "variants": [
    {"id": "control", "weight": 50},
    {"id": "cheaper", "weight": 50, "receives": {"unit_price": 180}, "plans": {"pro": 2500}}]}
VARIANTS = (PriceVariant("control", 50), PriceVariant("cheaper", 50))


def user_in(variant: str, skip: int = 0, experiment: str = EXPERIMENT, variants=VARIANTS) -> str:
    found = (f"user-{n}" for n in range(10_000) if assign(experiment, f"user-{n}", variants).id == variant)
    for _ in range(skip):
        next(found)
    return next(found)


async def admin_post(api, path: str, body=None, status: int = 200) -> dict:
    return await ok(await api.post(path, body, user="ops", role="admin"), status)


async def results(api, experiment: str = EXPERIMENT) -> dict:
    return await ok(await api.get(f"{EXPERIMENTS}/{experiment}/results", user="ops", role="admin"))


async def running(api, definition: dict = DEFINITION) -> dict:
    await admin_post(api, EXPERIMENTS, definition, 201)
    return await admin_post(api, f"{EXPERIMENTS}/{definition['id']}/start")


async def test_create_start_and_stop_answer_the_experiment_with_its_status(api):
    created = await admin_post(api, EXPERIMENTS, DEFINITION, 201)
    started = await admin_post(api, f"{EXPERIMENTS}/{EXPERIMENT}/start")
    stopped = await admin_post(api, f"{EXPERIMENTS}/{EXPERIMENT}/stop")

    assert created == {**DEFINITION, "status": "draft"}
    assert (started["status"], stopped["status"]) == ("running", "stopped")
    assert started["variants"] == stopped["variants"] == DEFINITION["variants"]
    audit = await ok(await api.get("/api/v1/admin/audit-log", user="ops", role="admin",
                                   params={"object_id": EXPERIMENT}))
    assert [e["action"] for e in audit["items"]] == ["experiment.stopped", "experiment.started", "experiment.created"]


async def test_starting_while_another_runs_and_restarting_a_stopped_one_are_409_invalid_state(api):
    await running(api)
    await admin_post(api, EXPERIMENTS, {**DEFINITION, "id": "plans-2027q1"}, 201)

    await error_of(await api.post(f"{EXPERIMENTS}/plans-2027q1/start", user="ops", role="admin"), 409, "invalid_state")
    await error_of(await api.post(f"{EXPERIMENTS}/{EXPERIMENT}/start", user="ops", role="admin"), 409, "invalid_state")
    await admin_post(api, f"{EXPERIMENTS}/{EXPERIMENT}/stop")
    await error_of(await api.post(f"{EXPERIMENTS}/{EXPERIMENT}/start", user="ops", role="admin"), 409, "invalid_state")
    await error_of(await api.post(f"{EXPERIMENTS}/{EXPERIMENT}/stop", user="ops", role="admin"), 409, "invalid_state")
    await error_of(await api.post(EXPERIMENTS, DEFINITION, user="ops", role="admin"), 409, "invalid_state")
    assert (await admin_post(api, f"{EXPERIMENTS}/plans-2027q1/start"))["status"] == "running"


@pytest.mark.parametrize(("body", "field"), [
    ({"id": EXPERIMENT, "variants": [{"id": "only", "weight": 1}]}, "variants"),
    ({"id": EXPERIMENT, "variants": [{"id": "a", "weight": "50"}, {"id": "b", "weight": 50}]}, "variants"),
    ({"id": "bad id", "variants": DEFINITION["variants"]}, "id"),
    ({"id": EXPERIMENT, "variants": DEFINITION["variants"], "extra": 1}, "extra"),
    ({"id": EXPERIMENT, "variants": [{"id": "a", "weight": 1}, {"id": "b", "weight": 1, "plans": {"pro": 6000}}]},
     "variants[1]"),
    ({"id": EXPERIMENT, "variants": [{"id": "a", "weight": 1}, {"id": "b", "weight": 1, "plans": {"basic": 100}}]},
     "variants"),
    ({"id": EXPERIMENT, "variants": [{"id": "a", "weight": 1}, {"id": "a", "weight": 1}]}, "variants"),
])
async def test_bad_definitions_are_422_validation_errors_and_nothing_is_created(api, body, field):
    error = await error_of(await api.post(EXPERIMENTS, body, user="ops", role="admin"), 422, "validation_error")

    assert any(key == field or key.startswith((f"{field}.", f"{field}[")) for key in error["details"]), error
    await error_of(await api.get(f"{EXPERIMENTS}/{EXPERIMENT}/results", user="ops", role="admin"), 404, "not_found")


async def test_the_admin_endpoints_need_the_admin_role_and_unknown_experiments_are_404(api):
    await error_of(await api.post(EXPERIMENTS, DEFINITION, user="u1"), 403, "forbidden")
    await admin_post(api, EXPERIMENTS, DEFINITION, 201)
    await error_of(await api.post(f"{EXPERIMENTS}/{EXPERIMENT}/start", user="u1"), 403, "forbidden")
    await error_of(await api.get(f"{EXPERIMENTS}/{EXPERIMENT}/results", user="u1"), 403, "forbidden")
    for path in ("nope/start", "nope/stop"):
        await error_of(await api.post(f"{EXPERIMENTS}/{path}", user="ops", role="admin"), 404, "not_found")
    await error_of(await api.get(f"{EXPERIMENTS}/nope/results", user="ops", role="admin"), 404, "not_found")


async def test_pricing_quotes_purchases_and_plan_changes_use_the_users_variant(api):
    await running(api)
    cheap, control = user_in("cheaper"), user_in("control")

    pricing = await ok(await api.get(PRICING, user=cheap))
    assert pricing["receives"]["unit_price"] == 180
    assert pricing["receives"]["tiers"] == (await ok(await api.get(PRICING, user=control)))["receives"]["tiers"]
    assert {p["id"]: p["price"] for p in pricing["plans"]} == {"basic": 0, "pro": 2500, "vip": 5900}
    assert (await ok(await api.get(PRICING, user=control)))["receives"]["unit_price"] == 200
    quote = await ok(await api.get("/api/v1/payments/receives/quote", user=cheap, params={"amount": "7"}))
    assert quote == {"amount": 7, "subtotal": 1260, "discount": 126, "total": 1134, "currency": "CNY"}
    plan_quote = await ok(await api.get("/api/v1/payments/plan/quote", user=cheap, params={"new_plan": "pro"}))
    assert plan_quote["proration"]["charge"] == 2500

    bought = await buy(api, 10, user=cheap)
    t = assert_transaction(bought["transaction"])
    assert (t["subtotal"], t["discount"], t["total"], t["price_variant"]) == (1800, 270, 1530, f"{EXPERIMENT}/cheaper")
    assert bought["session"]["amount"] == 1530
    default = (await buy(api, 10, user=control))["transaction"]
    assert (default["total"], default["price_variant"]) == (1700, f"{EXPERIMENT}/control")
    status, upgraded = await change_plan(api, "pro", user=cheap)
    assert status == 201 and upgraded["proration"]["charge"] == 2500
    assert (upgraded["transaction"]["total"], upgraded["transaction"]["price_variant"]) == (
        2500, f"{EXPERIMENT}/cheaper")

    listed = await ok(await api.get("/api/v1/payments/transactions", user=cheap))
    assert {item["price_variant"] for item in listed["items"]} == {f"{EXPERIMENT}/cheaper"}
    admin_view = await ok(await api.get(f"/api/v1/admin/users/{cheap}", user="ops", role="admin"))
    assert {item["price_variant"] for item in admin_view["transactions"]} == {f"{EXPERIMENT}/cheaper"}


async def test_after_a_stop_the_catalog_is_back_and_a_transaction_made_before_keeps_its_price(api):
    await running(api)
    cheap = user_in("cheaper")
    made_during = await buy(api, 10, user=cheap)

    await admin_post(api, f"{EXPERIMENTS}/{EXPERIMENT}/stop")

    assert (await ok(await api.get(PRICING, user=cheap)))["receives"]["unit_price"] == 200
    after = (await buy(api, 10, user=cheap))["transaction"]
    assert (after["total"], after["price_variant"]) == (1700, None)
    await pay(api, made_during["session"])
    kept = (await transaction(api, made_during["transaction"]["id"], user=cheap))["transaction"]
    assert (kept["status"], kept["total"], kept["price_variant"]) == ("succeeded", 1530, f"{EXPERIMENT}/cheaper")
    # The user stays counted in the variant they were exposed to (sticky), and paid at its prices.
    variants = {v["id"]: v for v in (await results(api))["variants"]}
    assert (variants["cheaper"]["exposed"], variants["cheaper"]["paying"], variants["cheaper"]["gross"]) == (1, 1, 1530)


async def test_each_user_sees_the_variant_the_hash_assigns_and_exposures_are_counted_once(api):
    await running(api)
    users = [f"member-{n}" for n in range(200)]

    seen = {user: (await ok(await api.get(PRICING, user=user)))["receives"]["unit_price"] for user in users}
    for user in users[:50]:  # shown again: still one exposure each
        await api.get(PRICING, user=user)

    expected = {user: assign(EXPERIMENT, user, VARIANTS).id for user in users}
    assert all(seen[user] == (180 if expected[user] == "cheaper" else 200) for user in users)
    exposed = {v["id"]: v["exposed"] for v in (await results(api))["variants"]}
    assert exposed == {"control": list(expected.values()).count("control"),
                       "cheaper": list(expected.values()).count("cheaper")}


async def test_results_from_known_data_are_exact(api):
    await running(api)
    controls = [user_in("control", n) for n in range(4)]
    cheaps = [user_in("cheaper", n) for n in range(2)]
    for user in controls + cheaps:
        await api.get(PRICING, user=user)
    await pay(api, (await buy(api, 10, user=controls[0]))["session"])   # 1700
    await pay(api, (await buy(api, 5, user=controls[1]))["session"])    # 900
    await buy(api, 1, user=controls[2])                                   # pending: not paying
    await pay(api, (await buy(api, 10, user=cheaps[0]))["session"])     # 1530
    await pay(api, (await buy(api, 1, user=cheaps[0]))["session"])      # 180, the same payer
    declined = await buy(api, 1, user=cheaps[1])
    await pay(api, declined["session"], succeeded=False)

    body = await results(api)

    assert set(body) == {"id", "status", "variants"} and (body["id"], body["status"]) == (EXPERIMENT, "running")
    control, cheaper = body["variants"]
    assert control == {"id": "control", "exposed": 4, "paying": 2, "conversion_bps": 5000, "gross": 2600,
                       "revenue_per_exposed": 650, "p_value": None}
    assert {k: v for k, v in cheaper.items() if k != "p_value"} == {
        "id": "cheaper", "exposed": 2, "paying": 1, "conversion_bps": 5000, "gross": 1710, "revenue_per_exposed": 855}
    assert cheaper["p_value"] == pytest.approx(1.0)


async def test_the_p_value_is_the_two_proportion_z_test_against_the_first_variant(api):
    await running(api)
    controls = [user_in("control", n) for n in range(5)]
    cheaps = [user_in("cheaper", n) for n in range(4)]
    for user in controls + cheaps:
        await api.get(PRICING, user=user)
    await pay(api, (await buy(api, 1, user=controls[0]))["session"])
    for user in cheaps[:3]:
        await pay(api, (await buy(api, 1, user=user))["session"])

    cheaper = (await results(api))["variants"][1]

    pooled = 4 / 9
    z = (3 / 4 - 1 / 5) / (pooled * (1 - pooled) * (1 / 5 + 1 / 4)) ** 0.5
    assert cheaper["p_value"] == pytest.approx(2 * (1 - NormalDist().cdf(z)), rel=1e-9)
    assert (cheaper["conversion_bps"], cheaper["gross"], cheaper["revenue_per_exposed"]) == (7500, 540, 135)


async def test_ten_thousand_users_shown_their_prices_over_http_land_within_2_percent_of_the_weights(api):
    simulation = {"id": "simulation", "variants": [
        {"id": "a", "weight": 20}, {"id": "b", "weight": 30, "receives": {"unit_price": 150}},
        {"id": "c", "weight": 50, "receives": {"unit_price": 250}}]}
    await running(api, simulation)

    shown = {200: 0, 150: 0, 250: 0}
    for n in range(10_000):
        shown[(await ok(await api.get(PRICING, user=f"sim-{n}")))["receives"]["unit_price"]] += 1

    exposed = {v["id"]: v["exposed"] for v in (await results(api, "simulation"))["variants"]}
    assert sum(exposed.values()) == 10_000
    for variant, weight, unit_price in (("a", 0.2, 200), ("b", 0.3, 150), ("c", 0.5, 250)):
        assert abs(exposed[variant] / 10_000 - weight) <= 0.02
        assert shown[unit_price] == exposed[variant]


async def test_a_transaction_made_before_the_start_keeps_the_catalogs_price_when_paid_during_it_and_converts(api):
    cheap = user_in("cheaper")
    made_before = await buy(api, 10, user=cheap)
    await running(api)

    assert (await ok(await api.get(PRICING, user=cheap)))["receives"]["unit_price"] == 180  # now exposed
    again = await ok(await api.post(SESSIONS, {"transaction_id": made_before["transaction"]["id"]}, user=cheap), 201)
    assert again["amount"] == made_before["session"]["amount"] == 1700
    await pay(api, again)
    kept = (await transaction(api, made_before["transaction"]["id"], user=cheap))["transaction"]
    assert (kept["status"], kept["total"], kept["price_variant"]) == ("succeeded", 1700, None)
    cheaper = (await results(api))["variants"][1]
    # the contract's "paying": a succeeded transaction since exposure, whatever priced it
    assert (cheaper["exposed"], cheaper["paying"], cheaper["gross"]) == (1, 1, 1700)
