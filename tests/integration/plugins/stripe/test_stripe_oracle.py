"""The official `stripe` SDK (16.1.0, offline) as the oracle of the plugin and of the fake Stripe
(PROTOCOLS.md §6.3): webhook signatures both ways (`construct_event`, `generate_signature_header`),
the form encoding byte for byte (`_api_encode`, as the SDK sends it), and the SDK's own async client
reading the fake's answers and errors, so the fake speaks Stripe."""
from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
import respx
import stripe
from stripe._encode import _api_encode

from domain.errors import InvalidSignatureError
from plugins.stripe import signature
from plugins.stripe.wire import encode
from ports.payment_provider import ProviderEventKind
from stripe_fake import FakeStripe, new_secret_key, new_webhook_secret
from stripe_harness import API_BASE, StripeHarness, now_to_the_second


@pytest.fixture
async def h():
    harness = StripeHarness(signed_at=now_to_the_second())  # the SDK checks freshness on time.time()
    yield harness
    await harness.close()


def sdk_body(params: dict) -> bytes:
    """The body stripe-python sends for `params` (its `_api_requestor`: urlencode, then [ ] unescaped)."""
    return urlencode(list(_api_encode(params))).replace("%5B", "[").replace("%5D", "]").encode()


# ---------------------------------------------------------------------- signatures
async def test_the_sdk_verifies_what_the_fake_signs_and_the_plugin_accepts_it(h) -> None:
    order = h.order()
    headers, body = h.signed_notification(order)

    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], h.webhook_secrets[0])

    assert (event.type, event.data.object.client_reference_id) == ("checkout.session.completed", order.order_id)
    assert h.provider.parse_notification(headers, body).event_id == event.id


async def test_the_plugin_accepts_what_the_sdk_signs_and_refuses_what_the_sdk_refuses(h) -> None:
    order = h.order()
    _, body = h.signed_notification(order)
    now = int(h.clock.now().timestamp())
    payload = body.decode()

    good = stripe.WebhookSignature.generate_signature_header(payload, h.webhook_secrets[0], now)
    assert h.provider.parse_notification({"stripe-signature": good}, body).kind is ProviderEventKind.PAYMENT_SUCCEEDED
    assert signature.header(h.webhook_secrets, body, now) == good  # the plugin's own signer, identical

    other = new_webhook_secret()
    cases = {
        "another secret": (stripe.WebhookSignature.generate_signature_header(payload, other, now), body),
        "a tampered body": (good, body.replace(order.order_id.encode(), b"C000000000000000000000")),
        "301 s old": (stripe.WebhookSignature.generate_signature_header(payload, h.webhook_secrets[0], now - 301),
                      body),
    }
    for what, (header, sent) in cases.items():
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.WebhookSignature.verify_header(sent.decode(), header, h.webhook_secrets[0], tolerance=300)
        with pytest.raises(InvalidSignatureError):
            h.provider.parse_notification({"Stripe-Signature": header}, sent)
            pytest.fail(what)


async def test_a_rotation_header_with_two_v1_signatures_verifies_in_the_sdk_with_either_secret() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    h = StripeHarness(signed_at=now_to_the_second(), PAYMENTS_STRIPE_WEBHOOK_SECRETS=f"{new}")
    headers, body = h.stripe.signed(h.event_for(h.order()), secrets_=[old, new])

    for secret in (old, new):
        assert stripe.WebhookSignature.verify_header(body.decode(), headers["Stripe-Signature"], secret, tolerance=300)
    assert h.provider.parse_notification(headers, body).kind is ProviderEventKind.PAYMENT_SUCCEEDED
    await h.close()


async def test_a_signature_from_the_future_is_refused_though_the_sdk_would_take_it(h) -> None:
    _, body = h.signed_notification(h.order())
    later = int(h.clock.now().timestamp()) + 3600
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), h.webhook_secrets[0], later)

    with pytest.raises(InvalidSignatureError):
        h.provider.parse_notification({"Stripe-Signature": header}, body)


# ---------------------------------------------------------------------- form encoding
def test_the_plugins_form_encoding_is_the_sdks_byte_for_byte() -> None:
    params = {"mode": "payment", "line_items": [{"quantity": 1, "price_data": {
                  "currency": "cny", "unit_amount": 1700, "product_data": {"name": "10 次收信 & more=yes"}}}],
              "payment_method_types": ["wechat_pay", "alipay"],
              "payment_method_options": {"wechat_pay": {"client": "web"}}, "client_reference_id": "C1",
              "metadata": {"order_id": "C1", "empty": ""}, "expand": ["payment_intent.latest_charge"],
              "off": False, "on": True, "skipped": None,
              "success_url": "https://app.example.test/done?session={CHECKOUT_SESSION_ID}"}

    assert encode(params) == sdk_body(params)


async def test_the_session_the_plugin_opens_is_encoded_as_the_sdk_would_encode_its_parameters(h) -> None:
    order = h.order(payment_method="wechat_pay")

    await h.provider.open_payment(order)

    (request,) = [r for r in h.stripe.requests if r.method == "POST"]
    assert request.content == sdk_body(h.provider.session_params(order, "wechat_pay"))


def test_a_float_is_never_encoded() -> None:
    with pytest.raises(TypeError):
        encode({"amount": 17.0})


# ---------------------------------------------------------------------- the fake, read by the SDK
# stripe-python 16.1.0's HTTPXClient passes bytes as `data=`, which httpx 0.28 deprecates
@pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")
async def test_the_sdks_async_client_reads_the_fakes_sessions_refunds_and_errors() -> None:
    secret_key = new_secret_key()
    fake = FakeStripe(secret_key=secret_key, now=lambda: int(time.time()))
    client = stripe.StripeClient(secret_key, base_addresses={"api": API_BASE}, http_client=stripe.HTTPXClient(),
                                 max_network_retries=0)
    params = {"mode": "payment", "success_url": "https://app.example.test/done", "client_reference_id": "C1",
              "payment_method_types": ["card"], "expires_at": int(time.time()) + 3600,
              "line_items": [{"quantity": 1, "price_data": {"currency": "cny", "unit_amount": 1700,
                                                            "product_data": {"name": "10 receives"}}}]}
    with respx.mock(base_url=API_BASE, assert_all_called=False) as mock:
        mock.route().mock(side_effect=fake.handle)

        session = await client.v1.checkout.sessions.create_async(params, {"idempotency_key": "checkout-C1"})
        assert (session.status, session.amount_total, session.url) == ("open", 1700, fake.sessions[session.id]["url"])
        fake.pay("C1")
        paid = await client.v1.checkout.sessions.retrieve_async(session.id,
                                                                {"expand": ["payment_intent.latest_charge"]})
        charge = paid.payment_intent.latest_charge
        assert paid.payment_status == "paid" and charge.payment_method_details.card.fingerprint

        refund = await client.v1.refunds.create_async({"payment_intent": paid.payment_intent.id, "amount": 700},
                                                       {"idempotency_key": "refund-R1"})
        assert (refund.status, refund.amount) == ("succeeded", 700)
        listed = await client.v1.refunds.list_async({"payment_intent": paid.payment_intent.id})
        assert [r.id for r in listed.data] == [refund.id]

        with pytest.raises(stripe.IdempotencyError):
            await client.v1.refunds.create_async({"payment_intent": paid.payment_intent.id, "amount": 1},
                                                 {"idempotency_key": "refund-R1"})
        with pytest.raises(stripe.InvalidRequestError) as too_much:
            await client.v1.refunds.create_async({"payment_intent": paid.payment_intent.id, "amount": 1001},
                                                 {"idempotency_key": "refund-R2"})
        assert too_much.value.code == "amount_too_large"
        with pytest.raises(stripe.InvalidRequestError) as missing:
            await client.v1.checkout.sessions.retrieve_async("cs_test_nothing")
        assert missing.value.code == "resource_missing" and missing.value.http_status == 404
        fake.fail_with(402)
        with pytest.raises(stripe.CardError) as declined:
            await client.v1.checkout.sessions.retrieve_async(session.id)
        assert declined.value.code == "card_declined"
        fake.fail_with(429)
        with pytest.raises(stripe.RateLimitError):
            await client.v1.checkout.sessions.retrieve_async(session.id)
    wrong = stripe.StripeClient(new_secret_key(), base_addresses={"api": API_BASE}, http_client=stripe.HTTPXClient())
    fake.fail_with(None)
    with respx.mock(base_url=API_BASE) as mock:
        mock.route().mock(side_effect=fake.handle)
        with pytest.raises(stripe.AuthenticationError):
            await wrong.v1.checkout.sessions.retrieve_async(session.id)


@pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")
async def test_the_sdks_async_client_reads_the_fakes_customers_saved_cards_off_session_charges_and_detach() -> None:
    secret_key = new_secret_key()
    fake = FakeStripe(secret_key=secret_key, now=lambda: int(time.time()))
    client = stripe.StripeClient(secret_key, base_addresses={"api": API_BASE}, http_client=stripe.HTTPXClient(),
                                 max_network_retries=0)
    with respx.mock(base_url=API_BASE, assert_all_called=False) as mock:
        mock.route().mock(side_effect=fake.handle)
        customer = await client.v1.customers.create_async({"metadata": {"user_id": "u1"}},
                                                          {"idempotency_key": "customer-u1"})
        assert customer.id.startswith("cus_") and customer.metadata["user_id"] == "u1"
        for order_id, card in (("C1", "pm_card_visa"), ("C2", "pm_card_authenticationRequired")):
            await client.v1.checkout.sessions.create_async({
                "mode": "payment", "success_url": "https://app.example.test/done", "client_reference_id": order_id,
                "payment_method_types": ["card"], "customer": customer.id,
                "payment_intent_data": {"setup_future_usage": "off_session"},
                "line_items": [{"quantity": 1, "price_data": {"currency": "cny", "unit_amount": 1700,
                                                              "product_data": {"name": "10 receives"}}}]},
                {"idempotency_key": f"checkout-{order_id}"})
            fake.pay(order_id, card=card)
        visa, needs_payer = (fake.intents[fake.session_of(o)["payment_intent"]]["payment_method"] for o in ("C1", "C2"))
        session = await client.v1.checkout.sessions.retrieve_async(
            fake.session_of("C1")["id"], {"expand": ["payment_intent.payment_method"]})
        card = session.payment_intent.payment_method.card
        assert (card.brand, card.last4, session.payment_intent.payment_method.customer) == ("visa", "4242", customer.id)

        charge = {"amount": 1700, "currency": "cny", "customer": customer.id, "off_session": True, "confirm": True,
                  "payment_method_types": ["card"], "metadata": {"order_id": "C3"}}
        intent = await client.v1.payment_intents.create_async({**charge, "payment_method": visa},
                                                              {"idempotency_key": "C3"})
        assert intent.status == "succeeded"
        with pytest.raises(stripe.CardError) as declined:
            await client.v1.payment_intents.create_async({**charge, "payment_method": needs_payer},
                                                         {"idempotency_key": "C4"})
        assert declined.value.code == "authentication_required"
        assert declined.value.error.payment_intent.status == "requires_payment_method"

        detached = await client.v1.payment_methods.detach_async(visa, options={"idempotency_key": f"detach-{visa}"})
        assert detached.customer is None
        with pytest.raises(stripe.InvalidRequestError):
            await client.v1.payment_methods.detach_async(visa, options={"idempotency_key": "detach-again"})


async def test_an_off_session_charge_is_encoded_as_the_sdk_would_encode_its_parameters(h) -> None:
    from domain.errors import ProviderError
    from ports.payment_provider import OffSessionCharge

    customer = await h.provider.create_customer("u1")
    charge = OffSessionCharge(order_id="C123456", amount=h.order().amount, description="10 receives",
                              payment_method="credit_card", token="pm_nothing", customer_reference=customer)
    with pytest.raises(ProviderError):  # the fake knows no such method; only the body matters here
        await h.provider.charge_saved_method(charge)

    (request,) = [r for r in h.stripe.requests if r.url.path == "/v1/payment_intents"]
    assert request.content == sdk_body({
        "amount": 1700, "currency": "cny", "customer": customer, "payment_method": "pm_nothing",
        "payment_method_types": ["card"], "off_session": True, "confirm": True, "description": "10 receives",
        "metadata": {"order_id": "C123456"}})
