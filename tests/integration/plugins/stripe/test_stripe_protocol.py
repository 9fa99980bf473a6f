"""The Stripe plugin's wire, pinned against the fake Stripe (PROTOCOLS.md §4): what a Checkout
Session is opened with, the expiry clamp, Idempotency-Keys on every POST, Stripe's errors in the
port's terms, sessions found by our order id, refunds never made twice, webhook events and their
payer ids, and settings refused in one line."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl

import attrs
import httpx
import pytest

import plugins
from domain.errors import InvalidSignatureError, ProviderError, ProviderUnavailableError, RefundNotFoundError
from domain.money import CNY, Money
from plugins.conformance import new_order_id
from plugins.stripe.client import StripeCardError, StripeIdempotencyError
from ports.payment_provider import (
    Flow,
    PaymentState,
    call_with_reference,
    ProviderEventKind,
    RefundOrder,
    RefundState,
)
from stripe_fake import new_secret_key, new_webhook_secret
from stripe_harness import PUBLIC_URL, OrderMaker, StripeHarness, fixed_clock, stripe_settings


@pytest.fixture
async def h():
    harness = StripeHarness()
    yield harness
    await harness.close()


def form_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


def posts(h: StripeHarness, path: str) -> list[httpx.Request]:
    return [r for r in h.stripe.requests if r.method == "POST" and r.url.path == path]


def refund_of(order, instructions, amount: int | None = None, refund_order_id: str | None = None,
              reason: str = "requested_by_customer") -> RefundOrder:
    return RefundOrder(refund_order_id=refund_order_id or new_order_id("R"), payment_order_id=order.order_id,
                       amount=Money(amount or order.amount.amount, order.amount.currency), payment_total=order.amount,
                       reason=reason, provider_reference=instructions.provider_reference)


# ---------------------------------------------------------------------- opening
async def test_a_card_order_opens_a_checkout_session_with_the_order_in_cny_and_its_ids(h) -> None:
    order = h.order(amount=Money(1700, CNY), payment_method="credit_card", flow=Flow.REDIRECT,
                    description="10 receives")

    instructions = await h.provider.open_payment(order)

    (request,) = posts(h, "/v1/checkout/sessions")
    form = form_of(request)
    assert form == {
        "mode": "payment", "line_items[0][quantity]": "1", "line_items[0][price_data][currency]": "cny",
        "line_items[0][price_data][unit_amount]": "1700",
        "line_items[0][price_data][product_data][name]": "10 receives",
        "payment_method_types[0]": "card", "client_reference_id": order.order_id,
        "metadata[order_id]": order.order_id, "metadata[session_id]": order.session_id,
        "payment_intent_data[metadata][order_id]": order.order_id,
        "payment_intent_data[metadata][session_id]": order.session_id,
        "expires_at": str(int(order.expires_at.timestamp())),
        "success_url": order.return_url, "cancel_url": order.return_url,
    }
    assert request.headers["Idempotency-Key"] == order.order_id
    assert request.headers["Authorization"] == f"Bearer {h.secret_key}"
    assert request.headers["Stripe-Version"] == "2026-10-28.endive"
    assert request.url.host == "api.stripe.test"
    session = h.stripe.session_of(order.order_id)
    assert (instructions.payment_url, instructions.qr_code, instructions.provider_reference) == \
        (session["url"], None, session["id"])
    assert instructions.provider_reference.startswith("cs_")


async def test_wechat_pay_asks_for_the_web_client_and_alipay_for_alipay_on_phones_too(h) -> None:
    wechat = h.order(payment_method="wechat_pay", flow=Flow.MOBILE_REDIRECT)
    alipay = h.order(payment_method="alipay", flow=Flow.MOBILE_REDIRECT, return_url=None)

    await h.provider.open_payment(wechat)
    await h.provider.open_payment(alipay)

    wechat_form, alipay_form = (form_of(r) for r in posts(h, "/v1/checkout/sessions"))
    assert wechat_form["payment_method_types[0]"] == "wechat_pay"
    assert wechat_form["payment_method_options[wechat_pay][client]"] == "web"
    assert alipay_form["payment_method_types[0]"] == "alipay"
    assert not any(k.startswith("payment_method_options") for k in alipay_form)
    assert alipay_form["success_url"] == alipay_form["cancel_url"] == PUBLIC_URL  # no return URL: our own


async def test_every_method_offers_the_redirect_flows_only_in_cny(h) -> None:
    capabilities = h.provider.capabilities
    assert {m.id: m.flows for m in capabilities.methods} == {
        m: (Flow.REDIRECT, Flow.MOBILE_REDIRECT) for m in ("credit_card", "wechat_pay", "alipay")}
    assert capabilities.currencies == ("CNY",)
    assert h.provider.requires_port == (1, 6)


async def test_a_method_stripe_does_not_serve_here_is_a_provider_error_and_nothing_is_sent(h) -> None:
    with pytest.raises(ProviderError):
        await h.provider.open_payment(h.order(payment_method="mock"))
    assert h.stripe.requests == []


@pytest.mark.parametrize(("lifetime", "expected_after_now"), [
    (timedelta(minutes=10), (timedelta(minutes=31), timedelta(minutes=36))),  # raised to Stripe's 30 min (+1)
    (timedelta(days=3), (timedelta(hours=23, minutes=54), timedelta(hours=23, minutes=59))),  # cut to its 24 h (-1)
    (timedelta(hours=2), (timedelta(hours=2), timedelta(hours=2))),  # inside: ours exactly
])
async def test_expires_at_is_clamped_into_stripes_window(h, lifetime, expected_after_now) -> None:
    order = h.order(expires_at=h.clock.now() + lifetime)

    await h.provider.open_payment(order)

    sent = int(form_of(posts(h, "/v1/checkout/sessions")[0])["expires_at"])
    now = int(h.clock.now().timestamp())
    low, high = (int(bound.total_seconds()) for bound in expected_after_now)
    assert now + low <= sent <= now + high, (sent - now)
    assert h.stripe.session_of(order.order_id)["expires_at"] == sent  # and Stripe took it


async def test_a_short_order_opened_again_later_finds_its_session_when_the_clamped_expiry_moved(h) -> None:
    order = h.order(expires_at=h.clock.now() + timedelta(minutes=5))
    first = await h.provider.open_payment(order)
    h.provider._sessions.clear()  # another worker: it never saw the first answer
    h.clock.advance(timedelta(minutes=7))

    again = await h.provider.open_payment(order)

    assert again.provider_reference == first.provider_reference
    assert len(h.stripe.sessions) == 1
    assert [r.headers["Idempotency-Key"] for r in posts(h, "/v1/checkout/sessions")] == \
        [order.order_id] * 2


# ---------------------------------------------------------------------- errors
def answering(status: int, body: bytes | dict, **headers: str):
    def respond(request: httpx.Request) -> httpx.Response:
        if isinstance(body, dict):
            return httpx.Response(status, json=body, headers=headers)
        return httpx.Response(status, content=body, headers=headers)
    return respond


async def provider_answering(respond) -> object:
    settings = stripe_settings(new_secret_key(), [new_webhook_secret()])
    http = httpx.AsyncClient(transport=httpx.MockTransport(respond))
    return plugins.discover(["stripe"], settings, http=http, clock=fixed_clock())["stripe"]


async def test_a_card_error_is_a_provider_error_with_its_decline_code() -> None:
    provider = await provider_answering(answering(402, {"error": {
        "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds."}}, **{"Request-Id": "req_123"}))

    with pytest.raises(StripeCardError) as caught:
        await provider.open_payment(_order(provider))

    error = caught.value
    assert not isinstance(error, ProviderUnavailableError) and isinstance(error, ProviderError)
    assert (error.decline_code, error.stripe_code, error.request_id, error.http_status) == \
        ("insufficient_funds", "card_declined", "req_123", 402)
    assert "insufficient_funds" in str(error)


def _order(provider):
    return OrderMaker(provider).order()


@pytest.mark.parametrize(("status", "body"), [
    (429, {"error": {"type": "rate_limit_error", "message": "Too many requests."}}),
    (409, {"error": {"type": "idempotency_error", "code": "idempotency_key_in_use", "message": "in flight"}}),
    (500, {"error": {"type": "api_error", "message": "boom"}}),
    (502, b"<html>bad gateway</html>"),
])
async def test_rate_limits_conflicts_in_flight_and_5xx_are_unavailable(status, body) -> None:
    provider = await provider_answering(answering(status, body))

    with pytest.raises(ProviderUnavailableError):
        await provider.open_payment(_order(provider))


@pytest.mark.parametrize(("status", "body", "kind"), [
    (400, {"error": {"type": "idempotency_error", "message": "Keys for idempotent requests …"}},
     StripeIdempotencyError),
    (400, {"error": {"type": "invalid_request_error", "code": "parameter_invalid", "param": "x"}}, ProviderError),
    (401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****abcd"}},
     ProviderError),
    (200, b"not json", ProviderError),
    (200, b"[]", ProviderError),
])
async def test_refusals_and_unreadable_answers_are_provider_errors_whose_outcome_is_known(status, body, kind) -> None:
    provider = await provider_answering(answering(status, body))

    with pytest.raises(kind) as caught:
        await provider.query_payment(new_order_id())

    assert not isinstance(caught.value, ProviderUnavailableError)


async def test_no_error_message_carries_the_secret_key(h) -> None:
    h.fail_remote_with(httpx.ConnectError(f"refused while sending Bearer {h.secret_key}"))
    with pytest.raises(ProviderUnavailableError) as caught:
        await h.provider.open_payment(h.order())
    assert h.secret_key not in str(caught.value) and caught.value.__cause__ is None


# ---------------------------------------------------------------------- sessions by our order id
async def test_query_close_and_refund_find_an_order_among_many_sessions_in_a_process_that_never_saw_it(h) -> None:
    target = h.order()
    await h.provider.open_payment(target)
    for _ in range(120):  # newer sessions: the lookup pages through them (100 a page)
        h.clock.advance(timedelta(seconds=1))
        await h.provider.open_payment(h.order())
    h.stripe.pay(target.order_id)
    h.provider._sessions.clear()

    status = await h.provider.query_payment(target.order_id)

    assert (status.state, status.amount) == (PaymentState.SUCCEEDED, target.amount)
    lists = [r for r in h.stripe.requests if r.method == "GET" and r.url.path == "/v1/checkout/sessions"]
    assert len(lists) == 2 and "starting_after" in lists[1].url.params
    assert int(lists[0].url.params["created[gte]"]) == int((h.clock.now() - timedelta(hours=25)).timestamp())


async def test_with_the_stored_session_id_query_and_close_read_one_session_and_search_nothing(h) -> None:
    paid, unpaid = h.order(), h.order()
    paid_reference = (await h.provider.open_payment(paid)).provider_reference
    unpaid_reference = (await h.provider.open_payment(unpaid)).provider_reference
    h.stripe.pay(paid.order_id)
    h.provider._sessions.clear()  # another process: it never saw these orders
    h.stripe.requests.clear()

    status = await call_with_reference(h.provider.query_payment, paid.order_id, paid_reference)
    await call_with_reference(h.provider.close_payment, unpaid.order_id, unpaid_reference)

    assert status.state is PaymentState.SUCCEEDED and h.stripe.session_of(unpaid.order_id)["status"] == "expired"
    assert [(r.method, r.url.path) for r in h.stripe.requests] == [
        ("GET", f"/v1/checkout/sessions/{paid_reference}"), ("GET", f"/v1/checkout/sessions/{unpaid_reference}"),
        ("POST", f"/v1/checkout/sessions/{unpaid_reference}/expire")]


async def test_a_paid_session_reads_succeeded_with_its_paid_time_and_the_cards_fingerprint_as_payer(h) -> None:
    order = h.order()
    instructions = await h.provider.open_payment(order)
    h.stripe.pay(order.order_id, fingerprint="Xt5EWLLDS7FJjR1c")

    status = await h.provider.query_payment(order.order_id)

    assert (status.state, status.amount, status.provider_reference, status.payer_id, status.paid_at) == \
        (PaymentState.SUCCEEDED, order.amount, instructions.provider_reference, "Xt5EWLLDS7FJjR1c", h.clock.now())
    customer = h.order()
    await h.provider.open_payment(customer)
    h.stripe.pay(customer.order_id, customer="cus_Q1")
    assert (await h.provider.query_payment(customer.order_id)).payer_id == "cus_Q1"  # the customer, when there is one


async def test_a_delayed_payment_reads_pending_until_it_fails(h) -> None:
    order = h.order(payment_method="alipay")
    await h.provider.open_payment(order)
    h.stripe.pay(order.order_id, asynchronous=True)

    assert (await h.provider.query_payment(order.order_id)).state is PaymentState.PENDING
    h.stripe.fail_async_payment(order.order_id)
    assert (await h.provider.query_payment(order.order_id)).state is PaymentState.FAILED


async def test_closing_expires_the_session_with_a_key_from_the_order_and_stripe_says_so(h) -> None:
    order = h.order()
    await h.provider.open_payment(order)

    await h.provider.close_payment(order.order_id)

    (expire,) = [r for r in posts(h, f"/v1/checkout/sessions/{h.stripe.session_of(order.order_id)['id']}/expire")]
    assert expire.headers["Idempotency-Key"] == f"expire-{order.order_id}"
    assert h.stripe.session_of(order.order_id)["status"] == "expired"
    assert h.stripe.events[-1]["type"] == "checkout.session.expired"


# ---------------------------------------------------------------------- refunds
async def test_a_refund_goes_to_the_payment_intent_with_its_key_reason_and_ids(h) -> None:
    order = h.order()
    instructions = await h.provider.open_payment(order)
    h.stripe.pay(order.order_id)
    refund = refund_of(order, instructions, 700, reason="duplicate_payment")

    result = await h.provider.refund(refund)

    (request,) = posts(h, "/v1/refunds")
    assert request.headers["Idempotency-Key"] == refund.refund_order_id
    assert form_of(request) == {
        "payment_intent": h.stripe.session_of(order.order_id)["payment_intent"], "amount": "700",
        "reason": "duplicate", "metadata[order_id]": order.order_id,
        "metadata[refund_order_id]": refund.refund_order_id, "metadata[reason]": "duplicate_payment"}
    assert (result.state, result.provider_reference) == (RefundState.SUCCEEDED, next(iter(h.stripe.refunds)))


async def test_a_pending_refund_is_followed_by_query_and_never_made_twice_even_after_stripe_forgets_the_key(h) -> None:
    h.stripe.refund_status = "pending"  # as WeChat Pay and Alipay refunds are
    order = h.order(payment_method="wechat_pay")
    instructions = await h.provider.open_payment(order)
    h.stripe.pay(order.order_id)
    refund = refund_of(order, instructions)

    assert (await h.provider.refund(refund)).state is RefundState.PENDING
    h.stripe._idempotency.clear()  # 24 h on, Stripe no longer holds the key
    h.provider._sessions.clear()
    assert (await h.provider.refund(refund)).state is RefundState.PENDING
    assert len(h.stripe.refunds) == 1 and len(posts(h, "/v1/refunds")) == 1

    (refund_id,) = h.stripe.refunds
    h.stripe.settle_refund(refund_id, "succeeded")
    result = await h.provider.query_refund(refund.refund_order_id, order.order_id)
    assert (result.state, result.provider_reference) == (RefundState.SUCCEEDED, refund_id)
    with pytest.raises(RefundNotFoundError):
        await h.provider.query_refund(new_order_id("R"), order.order_id)


@pytest.mark.parametrize(("status", "stripe_reason", "reason"), [
    ("failed", "lost_or_stolen_card", "lost_or_stolen_card"), ("failed", "insufficient_funds", "insufficient_funds"),
    ("canceled", None, "canceled")])
async def test_a_refund_stripe_fails_later_says_why_to_query_refund_and_to_refund_sent_again(
        h, status, stripe_reason, reason) -> None:
    h.stripe.refund_status = "pending"
    order = h.order(payment_method="wechat_pay")
    instructions = await h.provider.open_payment(order)
    h.stripe.pay(order.order_id)
    refund = refund_of(order, instructions)
    assert (await h.provider.refund(refund)).failure_reason is None  # pending: no reason yet

    (refund_id,) = h.stripe.refunds
    h.stripe.settle_refund(refund_id, status)
    h.stripe.refunds[refund_id]["failure_reason"] = stripe_reason  # what Stripe says of this one

    queried = await h.provider.query_refund(refund.refund_order_id, order.order_id)
    again = await h.provider.refund(refund)  # an admin's retry: found by our order id, never made twice
    assert (queried.state, queried.failure_reason, queried.provider_reference) == (RefundState.FAILED, reason, refund_id)
    assert (again.state, again.failure_reason) == (RefundState.FAILED, reason)
    assert len(h.stripe.refunds) == 1 and len(posts(h, "/v1/refunds")) == 1


# ---------------------------------------------------------------------- webhooks
async def test_a_signature_made_with_any_configured_secret_is_accepted_during_a_rotation() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    h = StripeHarness(PAYMENTS_STRIPE_WEBHOOK_SECRETS=f"{old}, {new}")
    order = h.order()
    event = h.event_for(order)

    for secrets_ in ([old], [new], [new, old], [new_webhook_secret(), new]):
        assert h.provider.parse_notification(*h.stripe.signed(event, secrets_=secrets_)).order_id == order.order_id
    with pytest.raises(InvalidSignatureError):
        h.provider.parse_notification(*h.stripe.signed(event, secrets_=[new_webhook_secret()]))
    await h.close()


async def test_a_v0_signature_alone_is_refused(h) -> None:
    headers, body = h.signed_notification(h.order())
    headers["Stripe-Signature"] = headers["Stripe-Signature"].replace("v1=", "v0=")

    with pytest.raises(InvalidSignatureError):
        h.provider.parse_notification(headers, body)


def parsed(h: StripeHarness, event: dict):
    return h.provider.parse_notification(*h.stripe.signed(event))


async def test_session_events_map_to_the_port_and_an_unpaid_completion_waits(h) -> None:
    order = h.order()
    session = h.session_object(order)
    cases = {
        ("checkout.session.completed", "paid"): ProviderEventKind.PAYMENT_SUCCEEDED,
        ("checkout.session.completed", "unpaid"): ProviderEventKind.IGNORED,
        ("checkout.session.async_payment_succeeded", "paid"): ProviderEventKind.PAYMENT_SUCCEEDED,
        ("checkout.session.async_payment_failed", "unpaid"): ProviderEventKind.PAYMENT_FAILED,
        ("checkout.session.expired", "unpaid"): ProviderEventKind.PAYMENT_CLOSED,
    }
    for (event_type, payment_status), kind in cases.items():
        event = parsed(h, h.stripe.event(event_type, {**session, "payment_status": payment_status}))
        assert (event.kind, event.order_id, event.amount, event.provider_reference) == \
            (kind, order.order_id, order.amount, session["id"]), event_type
        assert event.event_id.startswith("evt_")


async def test_a_checkout_sessions_payment_intent_events_and_unknown_types_are_ignored(h) -> None:
    intent = {"id": "pi_1", "object": "payment_intent", "amount": 1700, "currency": "cny", "status": "succeeded",
              "metadata": {"order_id": "C123456", "session_id": "ps_1"}}  # its session's events settle it
    for event_type in ("payment_intent.succeeded", "payment_intent.payment_failed", "customer.created"):
        assert parsed(h, h.stripe.event(event_type, intent)).kind is ProviderEventKind.IGNORED


async def test_refund_events_settle_our_refunds_and_ignore_others(h) -> None:
    refund = {"id": "re_1", "object": "refund", "amount": 500, "currency": "cny", "payment_intent": "pi_1",
              "status": "succeeded", "metadata": {"order_id": "C123456", "refund_order_id": "R123456"}}
    charge = {"id": "ch_1", "object": "charge", "amount": 1700, "amount_refunded": 500, "currency": "cny",
              "refunds": {"object": "list", "data": [refund]}}

    for event_type, obj in (("refund.updated", refund), ("charge.refunded", charge),
                            ("charge.refund.updated", refund), ("refund.created", refund)):
        event = parsed(h, h.stripe.event(event_type, obj))
        assert (event.kind, event.order_id, event.refund_order_id, event.amount, event.provider_reference) == \
            (ProviderEventKind.REFUND_SUCCEEDED, "C123456", "R123456", Money(500, CNY), "re_1"), event_type
    failed = parsed(h, h.stripe.event("refund.failed", {**refund, "status": "failed",
                                                        "failure_reason": "expired_or_canceled_card"}))
    assert (failed.kind, failed.failure_reason) == (ProviderEventKind.REFUND_FAILED, "expired_or_canceled_card")
    canceled = parsed(h, h.stripe.event("refund.updated", {**refund, "status": "canceled", "failure_reason": None}))
    assert (canceled.kind, canceled.failure_reason) == (ProviderEventKind.REFUND_FAILED, "canceled")
    pending = parsed(h, h.stripe.event("refund.updated", {**refund, "status": "pending"}))
    assert pending.kind is ProviderEventKind.IGNORED
    assert parsed(h, h.stripe.event("refund.updated", {**refund, "metadata": {}})).kind is ProviderEventKind.IGNORED
    assert parsed(h, h.stripe.event("charge.refunded", {**charge, "refunds": None})).kind is ProviderEventKind.IGNORED


async def test_an_authentic_event_of_an_unexpected_shape_is_refused_not_a_crash(h) -> None:
    for obj in ({"id": "cs_1", "object": "checkout.session", "payment_status": "paid", "amount_total": "1700",
                 "currency": "cny", "client_reference_id": "C1"},
                {"id": "re_1", "object": "refund", "status": "succeeded", "amount": 1.5, "currency": "cny",
                 "metadata": {"refund_order_id": "R1"}}):
        event_type = "checkout.session.completed" if obj["object"] == "checkout.session" else "refund.updated"
        with pytest.raises(InvalidSignatureError):
            parsed(h, h.stripe.event(event_type, obj))


async def test_the_payer_of_a_notification_is_the_customer_or_the_fingerprint_found_before_parsing(h) -> None:
    order = h.order()
    await h.provider.open_payment(order)
    event = h.stripe.pay(order.order_id, fingerprint="fpCARD123")
    headers, body = h.stripe.signed(event)

    assert h.provider.parse_notification(headers, body).payer_id is None  # the event has no charge
    await h.provider.prepare_notification(headers, body)
    assert h.provider.parse_notification(headers, body).payer_id == "fpCARD123"
    lookup = h.stripe.requests[-1]
    assert lookup.url.params.get_list("expand[0]") == ["payment_intent.latest_charge"]
    assert lookup.extensions["timeout"]["read"] == 3.0  # a short wait: Stripe is waiting for our answer

    with_customer = parsed(h, h.stripe.event("checkout.session.completed",
                                             h.session_object(h.order(), customer="cus_9")))
    assert with_customer.payer_id == "cus_9"


async def test_prepare_notification_never_raises_and_fetches_nothing_for_a_forgery(h) -> None:
    order = h.order()
    await h.provider.open_payment(order)
    sent = len(h.stripe.requests)

    await h.provider.prepare_notification(*h.forged_notification(order))
    await h.provider.prepare_notification({}, b"\xff")
    h.fail_remote_with(httpx.ConnectError("down"))
    await h.provider.prepare_notification(*h.stripe.signed(h.stripe.pay(order.order_id)))

    assert len(h.stripe.requests) == sent + 1  # only the authentic one asked, and its failure stayed inside


async def test_acknowledgements_are_200_and_a_refusal_is_our_unauthorized_error(h) -> None:
    from ports.payment_provider import NotificationOutcome

    accepted = h.provider.acknowledge(NotificationOutcome.ACCEPTED)
    rejected = h.provider.acknowledge(NotificationOutcome.REJECTED)
    assert accepted.status == 200
    assert rejected.status == 401 and b'"code": "unauthorized"' in rejected.body


# ---------------------------------------------------------------------- settings
@pytest.mark.parametrize(("change", "production", "message"), [
    ({"PAYMENTS_STRIPE_SECRET_KEY": ""}, False, "PAYMENTS_STRIPE_SECRET_KEY is not set"),
    ({"PAYMENTS_STRIPE_SECRET_KEY": "pk_test_abc"}, False, "PAYMENTS_STRIPE_SECRET_KEY is not a Stripe secret key"),
    ({"PAYMENTS_STRIPE_SECRET_KEY": "sk_test_é1"}, False, "PAYMENTS_STRIPE_SECRET_KEY is not a Stripe secret key"),
    ({}, True, "PAYMENTS_STRIPE_SECRET_KEY is a test-mode key"),
    ({"PAYMENTS_STRIPE_WEBHOOK_SECRETS": ""}, False, "PAYMENTS_STRIPE_WEBHOOK_SECRETS is not set"),
    ({"PAYMENTS_STRIPE_WEBHOOK_SECRETS": "whsec_a,notasecret"}, False, "PAYMENTS_STRIPE_WEBHOOK_SECRETS must be"),
    ({"PAYMENTS_STRIPE_API_BASE": "ftp://x"}, False, "PAYMENTS_STRIPE_API_BASE must be"),
])
def test_bad_settings_stop_start_up_in_one_line_naming_the_variable_never_its_value(change, production, message):
    secret_key = new_secret_key()
    settings = {**stripe_settings(secret_key, [new_webhook_secret()]), **change}

    with pytest.raises(plugins.PluginLoadError) as caught:
        plugins.discover(["stripe"], settings, http=None, clock=fixed_clock(), production=production)

    text = str(caught.value)
    assert message in text and "\n" not in text and secret_key not in text
    assert text.startswith("payment provider 'stripe' failed to load: ")


def test_a_live_key_loads_in_production() -> None:
    settings = stripe_settings("sk_live_" + new_secret_key()[8:], [new_webhook_secret()],
                               PAYMENTS_STRIPE_API_BASE="https://api.stripe.com")
    provider = plugins.discover(["stripe"], settings, http=None, clock=fixed_clock(), production=True)
    assert provider["stripe"].name == "stripe"
    assert attrs.has(type(provider["stripe"]._settings)) and "sk_live_" not in repr(provider["stripe"]._settings)


async def test_a_stripe_without_list_endpoints_still_refunds_and_reads_an_unknown_order_as_pending(h) -> None:
    answer = h.stripe.handle

    def without_lists(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path in ("/v1/refunds", "/v1/checkout/sessions"):
            return httpx.Response(404, json={"error": {"type": "invalid_request_error", "code": "resource_missing"}})
        return answer(request)

    provider = plugins.discover(["stripe"], stripe_settings(h.secret_key, h.webhook_secrets),
                                http=httpx.AsyncClient(transport=httpx.MockTransport(without_lists)),
                                clock=h.clock)["stripe"]
    order = h.order()
    instructions = await provider.open_payment(order)
    h.stripe.pay(order.order_id)

    result = await provider.refund(refund_of(order, instructions))

    assert result.state is RefundState.SUCCEEDED and len(h.stripe.refunds) == 1
    assert (await provider.query_payment(new_order_id())).state is PaymentState.PENDING
