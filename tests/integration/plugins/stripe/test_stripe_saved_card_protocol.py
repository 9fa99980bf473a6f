"""The Stripe plugin's saved cards (port 1.6), pinned against the fake Stripe: one customer per
user, a payment that saves its card (`setup_future_usage=off_session`), the card read back, off-session
charges and their answers (succeeded, processing, declined, needing the payer), queries, closes and
refunds of a charge by its `pi_…`, detaching, and the PaymentIntent events of off-session charges
(never those of a Checkout Session, which its session's events settle)."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl

import httpx
import pytest

from domain.errors import ProviderError, ProviderUnavailableError
from domain.money import CNY, Money
from plugins.conformance import new_order_id
from ports.payment_provider import (
    ChargeState,
    OffSessionCharge,
    PaymentState,
    ProviderEventKind,
    RefundOrder,
    RefundState,
    SavedMethodDetails,
    can_save_method,
    saves_methods,
)
from stripe_harness import StripeHarness


@pytest.fixture
async def h():
    harness = StripeHarness()
    yield harness
    await harness.close()


def form_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


def posts(h: StripeHarness, path: str) -> list[httpx.Request]:
    return [r for r in h.stripe.requests if r.method == "POST" and r.url.path == path]


async def saved_card(h: StripeHarness, card: str = "pm_card_visa", user_id: str = "user-1") -> tuple[str, str]:
    """A user's customer and the card a payment saved: (cus_…, pm_…)."""
    customer = await h.provider.create_customer(user_id)
    order = h.order(payment_method="credit_card", save_method=True, customer_reference=customer)
    instructions = await h.provider.open_payment(order)
    h.stripe.pay(order.order_id, card=card)
    saved = await h.provider.saved_method(order.order_id, provider_reference=instructions.provider_reference)
    return customer, saved.token


def charge_of(customer: str, token: str, amount: int = 1700, order_id: str | None = None) -> OffSessionCharge:
    return OffSessionCharge(order_id=order_id or new_order_id(), amount=Money(amount, CNY), description="10 receives",
                            payment_method="credit_card", token=token, customer_reference=customer)


# ---------------------------------------------------------------------- capabilities
async def test_cards_are_saved_and_wechat_pay_and_alipay_through_stripe_are_not(h) -> None:
    assert saves_methods(h.provider) and h.provider.requires_port == (1, 6)
    assert {m: can_save_method(h.provider, m) for m in ("credit_card", "wechat_pay", "alipay", "mock")} == {
        "credit_card": True, "wechat_pay": False, "alipay": False, "mock": False}


async def test_saving_a_wechat_pay_or_alipay_payment_or_one_without_a_customer_is_refused_and_nothing_sent(h) -> None:
    customer = await h.provider.create_customer("user-1")
    sent = len(h.stripe.requests)
    for order in (h.order(payment_method="wechat_pay", save_method=True, customer_reference=customer),
                  h.order(payment_method="alipay", save_method=True, customer_reference=customer),
                  h.order(payment_method="credit_card", save_method=True)):
        with pytest.raises(ProviderError):
            await h.provider.open_payment(order)
    with pytest.raises(ProviderError):
        await h.provider.charge_saved_method(OffSessionCharge(
            order_id=new_order_id(), amount=Money(100, CNY), description="x", payment_method="wechat_pay",
            token="pm_1", customer_reference=customer))
    assert len(h.stripe.requests) == sent


# ---------------------------------------------------------------------- customers
async def test_a_customer_is_made_once_per_user_with_its_id_in_metadata_and_a_key_from_it(h) -> None:
    first = await h.provider.create_customer("user-42")
    again = await h.provider.create_customer("user-42")  # a retry within Stripe's 24 h: the same customer
    other = await h.provider.create_customer("user-43")

    assert first == again != other and first.startswith("cus_")
    requests = posts(h, "/v1/customers")
    assert [r.headers["Idempotency-Key"] for r in requests] == ["customer-user-42"] * 2 + ["customer-user-43"]
    assert form_of(requests[0]) == {"metadata[user_id]": "user-42"}
    assert h.stripe.customers[first]["metadata"] == {"user_id": "user-42"} and len(h.stripe.customers) == 2


async def test_a_user_id_too_long_for_a_key_is_hashed_into_one(h) -> None:
    await h.provider.create_customer("u" * 300)
    key = posts(h, "/v1/customers")[0].headers["Idempotency-Key"]
    assert len(key) <= 255 and key.startswith("customer-sha256-")


# ---------------------------------------------------------------------- saving a card
async def test_a_payment_that_saves_its_card_opens_its_session_for_the_customer_off_session(h) -> None:
    customer = await h.provider.create_customer("user-1")
    order = h.order(payment_method="credit_card", save_method=True, customer_reference=customer)

    await h.provider.open_payment(order)

    form = form_of(posts(h, "/v1/checkout/sessions")[0])
    assert form["customer"] == customer
    assert form["payment_intent_data[setup_future_usage]"] == "off_session"
    assert form["payment_method_types[0]"] == "card"
    plain = h.order(payment_method="credit_card", customer_reference=customer)  # not asked to save
    await h.provider.open_payment(plain)
    plain_form = form_of(posts(h, "/v1/checkout/sessions")[1])
    assert "customer" not in plain_form and "payment_intent_data[setup_future_usage]" not in plain_form


async def test_the_saved_card_is_read_back_with_its_brand_last4_expiry_and_fingerprint(h) -> None:
    customer = await h.provider.create_customer("user-1")
    order = h.order(payment_method="credit_card", save_method=True, customer_reference=customer)
    instructions = await h.provider.open_payment(order)
    h.stripe.pay(order.order_id, card="pm_card_visa")
    h.stripe.requests.clear()

    saved = await h.provider.saved_method(order.order_id, provider_reference=instructions.provider_reference)

    (token,) = h.stripe.payment_methods
    assert saved == SavedMethodDetails(token=token, payment_method="credit_card", label="Visa •••• 4242",
                                       brand="visa", last4="4242", exp_month=12, exp_year=2034,
                                       fingerprint="fp_card_4242")
    (request,) = h.stripe.requests  # one GET of the session, its payment method expanded
    assert request.url.path == f"/v1/checkout/sessions/{instructions.provider_reference}"
    assert request.url.params.get_list("expand[0]") == ["payment_intent.payment_method"]
    assert h.stripe.payment_methods[token]["customer"] == customer


async def test_a_process_that_never_saw_the_session_finds_the_saved_card_by_our_order_id(h) -> None:
    customer = await h.provider.create_customer("user-1")
    order = h.order(payment_method="credit_card", save_method=True, customer_reference=customer)
    await h.provider.open_payment(order)
    h.stripe.pay(order.order_id, card="pm_card_mastercard")
    h.provider._sessions.clear()

    saved = await h.provider.saved_method(order.order_id)

    assert (saved.label, saved.brand, saved.last4) == ("Mastercard •••• 4444", "mastercard", "4444")


async def test_no_saved_card_before_payment_nor_for_a_payment_that_did_not_ask_to_save(h) -> None:
    customer = await h.provider.create_customer("user-1")
    unpaid = h.order(payment_method="credit_card", save_method=True, customer_reference=customer)
    await h.provider.open_payment(unpaid)
    plain = h.order(payment_method="credit_card")
    await h.provider.open_payment(plain)
    h.stripe.pay(plain.order_id)

    assert await h.provider.saved_method(unpaid.order_id) is None
    assert await h.provider.saved_method(plain.order_id) is None
    assert await h.provider.saved_method(new_order_id()) is None


# ---------------------------------------------------------------------- off-session charges
async def test_a_one_click_charge_confirms_a_payment_intent_off_session_with_the_order_as_key(h) -> None:
    customer, token = await saved_card(h)
    charge = charge_of(customer, token, 3400)

    result = await h.provider.charge_saved_method(charge)

    (request,) = posts(h, "/v1/payment_intents")
    assert request.headers["Idempotency-Key"] == charge.order_id
    assert form_of(request) == {
        "amount": "3400", "currency": "cny", "customer": customer, "payment_method": token,
        "payment_method_types[0]": "card", "off_session": "true", "confirm": "true",
        "description": "10 receives", "metadata[order_id]": charge.order_id}
    (intent_id,) = [i for i, intent in h.stripe.intents.items() if intent["metadata"] == {"order_id": charge.order_id}]
    assert (result.order_id, result.state, result.provider_reference, result.failure_reason, result.payer_id) == \
        (charge.order_id, ChargeState.SUCCEEDED, intent_id, None, customer)


async def test_the_same_order_never_charges_twice_in_this_or_another_process(h) -> None:
    customer, token = await saved_card(h)
    charge = charge_of(customer, token)

    first = await h.provider.charge_saved_method(charge)
    again = await h.provider.charge_saved_method(charge)  # remembered: read, not posted
    h.provider._intents.clear()
    elsewhere = await h.provider.charge_saved_method(charge)  # another worker: Stripe replays the key

    assert first == again == elsewhere
    assert len(posts(h, "/v1/payment_intents")) == 2
    assert len([i for i in h.stripe.intents.values() if i["metadata"].get("order_id") == charge.order_id]) == 1


@pytest.mark.parametrize(("card", "reason"), [
    ("pm_card_chargeCustomerFail", "generic_decline"),  # Stripe's …0341: saved fine, every charge declined
    ("pm_card_visa_chargeDeclinedInsufficientFunds", "insufficient_funds"),
])
async def test_a_declined_card_fails_with_its_decline_code_and_a_retry_of_the_order_answers_the_same(
        h, card, reason) -> None:
    customer, token = await saved_card(h, card)
    charge = charge_of(customer, token)

    result = await h.provider.charge_saved_method(charge)
    h.provider._intents.clear()
    replayed = await h.provider.charge_saved_method(charge)

    assert (result.state, result.failure_reason) == (ChargeState.FAILED, reason)
    assert result.provider_reference in h.stripe.intents and replayed == result
    assert h.stripe.intents[result.provider_reference]["status"] == "requires_payment_method"


async def test_a_charge_that_needs_authentication_asks_for_the_payer(h) -> None:
    customer, token = await saved_card(h, "pm_card_authenticationRequired")
    charge = charge_of(customer, token)

    result = await h.provider.charge_saved_method(charge)

    assert (result.state, result.failure_reason) == (ChargeState.REQUIRES_PAYER, None)
    assert result.provider_reference.startswith("pi_")
    status = await h.provider.query_payment(charge.order_id, provider_reference=result.provider_reference)
    assert (status.state, status.failure_reason) == (PaymentState.FAILED, "authentication_required")


async def test_an_intent_left_requiring_action_asks_for_the_payer_too(h) -> None:
    customer, token = await saved_card(h)
    answer = h.stripe.handle

    def requiring_action(request: httpx.Request) -> httpx.Response:
        response = answer(request)
        if request.method == "POST" and request.url.path == "/v1/payment_intents":
            intent = h.stripe.intents[response.json()["id"]]
            intent["status"] = "requires_action"
            return httpx.Response(200, json=intent)
        return response

    h.http._transport = httpx.MockTransport(requiring_action)
    result = await h.provider.charge_saved_method(charge_of(customer, token))
    assert result.state is ChargeState.REQUIRES_PAYER


async def test_a_processing_charge_is_pending_until_its_query_or_event_settles_it(h) -> None:
    customer, token = await saved_card(h)
    h.stripe.charge_status = "processing"
    charge = charge_of(customer, token)

    result = await h.provider.charge_saved_method(charge)
    assert result.state is ChargeState.PENDING
    status = await h.provider.query_payment(charge.order_id, provider_reference=result.provider_reference)
    assert status.state is PaymentState.PENDING

    event = h.stripe.settle_intent(result.provider_reference)
    status = await h.provider.query_payment(charge.order_id, provider_reference=result.provider_reference)
    assert (status.state, status.amount, status.provider_reference, status.paid_at, status.payer_id) == \
        (PaymentState.SUCCEEDED, charge.amount, result.provider_reference, h.clock.now(), customer)
    notified = h.provider.parse_notification(*h.stripe.signed(event))
    assert (notified.kind, notified.order_id, notified.amount, notified.provider_reference) == \
        (ProviderEventKind.PAYMENT_SUCCEEDED, charge.order_id, charge.amount, result.provider_reference)


async def test_a_charge_whose_answer_was_lost_is_found_by_our_order_id_and_never_made_again(h) -> None:
    customer, token = await saved_card(h)
    charge = charge_of(customer, token)
    h.stripe.lose_answer_to = "/v1/payment_intents"

    with pytest.raises(ProviderUnavailableError):
        await h.provider.charge_saved_method(charge)
    status = await h.provider.query_payment(charge.order_id)  # the core asks before charging again

    assert status.state is PaymentState.SUCCEEDED and status.amount == charge.amount
    h.stripe._idempotency.clear()  # even once Stripe forgot the key, this process knows the intent now
    assert (await h.provider.charge_saved_method(charge)).state is ChargeState.SUCCEEDED
    assert len([i for i in h.stripe.intents.values() if i["metadata"].get("order_id") == charge.order_id]) == 1


async def test_a_detached_card_cannot_be_charged_any_more(h) -> None:
    customer, token = await saved_card(h)
    await h.provider.detach_saved_method(token, customer_reference=customer)

    with pytest.raises(ProviderError) as caught:
        await h.provider.charge_saved_method(charge_of(customer, token))
    assert not isinstance(caught.value, ProviderUnavailableError)


# ---------------------------------------------------------------------- a charge's order afterwards
async def test_a_charge_is_refunded_on_its_intent_and_its_refund_followed_by_our_order_id(h) -> None:
    customer, token = await saved_card(h)
    charge = charge_of(customer, token)
    result = await h.provider.charge_saved_method(charge)
    refund = RefundOrder(refund_order_id=new_order_id("R"), payment_order_id=charge.order_id,
                         amount=Money(700, CNY), payment_total=charge.amount, reason="requested_by_customer",
                         provider_reference=result.provider_reference)

    made = await h.provider.refund(refund)
    h.provider._intents.clear()  # another process follows it up, with no reference: found among recent intents
    followed = await h.provider.query_refund(refund.refund_order_id, charge.order_id)

    assert made.state is followed.state is RefundState.SUCCEEDED
    (request,) = posts(h, "/v1/refunds")
    assert form_of(request)["payment_intent"] == result.provider_reference


async def test_closing_a_charge_cancels_a_failed_intent_and_refuses_a_paid_one(h) -> None:
    customer, token = await saved_card(h, "pm_card_chargeCustomerFail")
    declined = charge_of(customer, token)
    failed = await h.provider.charge_saved_method(declined)

    await h.provider.close_payment(declined.order_id, provider_reference=failed.provider_reference)
    await h.provider.close_payment(declined.order_id, provider_reference=failed.provider_reference)  # again: done

    assert h.stripe.intents[failed.provider_reference]["status"] == "canceled"
    assert [r.headers["Idempotency-Key"] for r in posts(h, f"/v1/payment_intents/{failed.provider_reference}/cancel")] \
        == [f"cancel-{declined.order_id}"]
    status = await h.provider.query_payment(declined.order_id, provider_reference=failed.provider_reference)
    assert status.state is PaymentState.CLOSED
    _, good = await saved_card(h, user_id="user-2")
    paid = charge_of(h.stripe.payment_methods[good]["customer"], good)
    charged = await h.provider.charge_saved_method(paid)
    with pytest.raises(ProviderError):
        await h.provider.close_payment(paid.order_id, provider_reference=charged.provider_reference)


# ---------------------------------------------------------------------- detaching
async def test_detaching_detaches_once_and_one_already_detached_or_unknown_is_not_an_error(h) -> None:
    customer, token = await saved_card(h)

    await h.provider.detach_saved_method(token, customer_reference=customer)
    h.stripe._idempotency.clear()  # a day later: Stripe answers 400, not attached
    await h.provider.detach_saved_method(token, customer_reference=customer)
    await h.provider.detach_saved_method("pm_unknown", customer_reference=customer)

    assert h.stripe.payment_methods[token]["customer"] is None
    assert [r.headers["Idempotency-Key"] for r in posts(h, f"/v1/payment_methods/{token}/detach")] == \
        [f"detach-{token}"] * 2


async def test_a_detach_stripe_cannot_make_stays_an_error(h) -> None:
    customer, token = await saved_card(h)
    h.fail_remote_with(503)
    with pytest.raises(ProviderUnavailableError):
        await h.provider.detach_saved_method(token, customer_reference=customer)
    h.fail_remote_with(None)
    answer = h.stripe.handle

    def refusing(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/detach"):
            return httpx.Response(403, json={"error": {"type": "invalid_request_error", "message": "restricted key"}})
        return answer(request)

    h.http._transport = httpx.MockTransport(refusing)
    with pytest.raises(ProviderError):  # still attached: a refusal, not "already gone"
        await h.provider.detach_saved_method(token, customer_reference=customer)


# ---------------------------------------------------------------------- events
def intent_object(order_id: str, **changes) -> dict:
    return {"id": "pi_1", "object": "payment_intent", "amount": 1700, "currency": "cny", "status": "succeeded",
            "customer": "cus_1", "metadata": {"order_id": order_id}, "last_payment_error": None, **changes}


def parsed(h: StripeHarness, event_type: str, obj: dict):
    return h.provider.parse_notification(*h.stripe.signed(h.stripe.event(event_type, obj)))


async def test_an_off_session_charges_events_settle_its_order_with_its_amount_and_decline_code(h) -> None:
    succeeded = parsed(h, "payment_intent.succeeded", intent_object("C123456"))
    failed = parsed(h, "payment_intent.payment_failed", intent_object("C123456", status="requires_payment_method",
                    last_payment_error={"type": "card_error", "code": "card_declined",
                                        "decline_code": "insufficient_funds"}))
    expired = parsed(h, "payment_intent.payment_failed", intent_object("C123456", status="requires_payment_method",
                     last_payment_error={"type": "card_error", "code": "expired_card"}))

    assert (succeeded.kind, succeeded.order_id, succeeded.amount, succeeded.provider_reference,
            succeeded.payer_id) == (ProviderEventKind.PAYMENT_SUCCEEDED, "C123456", Money(1700, CNY), "pi_1", "cus_1")
    assert (failed.kind, failed.order_id, failed.failure_reason) == \
        (ProviderEventKind.PAYMENT_FAILED, "C123456", "insufficient_funds")
    assert expired.failure_reason == "expired_card"
    usd = parsed(h, "payment_intent.succeeded", intent_object("C123456", currency="usd"))
    assert usd.amount.currency.code == "USD"  # reported as it is: the core checks it against the order


async def test_a_checkout_sessions_intent_a_foreign_one_and_an_authentication_failure_are_ignored(h) -> None:
    checkout = intent_object("C123456", metadata={"order_id": "C123456", "session_id": "S1"})
    foreign = intent_object("C123456", metadata={})
    needs_payer = intent_object("C123456", status="requires_payment_method", last_payment_error={
        "type": "card_error", "code": "authentication_required", "decline_code": "authentication_required"})

    for event_type, obj in (("payment_intent.succeeded", checkout), ("payment_intent.payment_failed", checkout),
                            ("payment_intent.succeeded", foreign), ("payment_intent.payment_failed", needs_payer),
                            ("payment_intent.canceled", intent_object("C123456", status="canceled"))):
        assert parsed(h, event_type, obj).kind is ProviderEventKind.IGNORED, (event_type, obj["metadata"])


async def test_a_checkout_payment_is_reported_once_though_stripe_sends_its_intents_event_too(h) -> None:
    customer = await h.provider.create_customer("user-1")
    order = h.order(payment_method="credit_card", save_method=True, customer_reference=customer)
    await h.provider.open_payment(order)
    completed = h.stripe.pay(order.order_id)
    intent = h.stripe.intents[h.stripe.session_of(order.order_id)["payment_intent"]]

    kinds = [h.provider.parse_notification(*h.stripe.signed(e)).kind
             for e in (completed, h.stripe.event("payment_intent.succeeded", dict(intent)))]

    assert kinds == [ProviderEventKind.PAYMENT_SUCCEEDED, ProviderEventKind.IGNORED]


async def test_an_intent_event_with_a_malformed_amount_is_refused(h) -> None:
    from domain.errors import InvalidSignatureError

    with pytest.raises(InvalidSignatureError):
        parsed(h, "payment_intent.succeeded", intent_object("C123456", amount=17.0))


async def test_an_unknown_charge_order_reads_pending(h) -> None:
    h.clock.advance(timedelta(seconds=1))
    assert (await h.provider.query_payment(new_order_id())).state is PaymentState.PENDING
