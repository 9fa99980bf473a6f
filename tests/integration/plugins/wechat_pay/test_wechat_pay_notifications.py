"""WeChat Pay notifications through the plugin: what is read from the decrypted resource, what is
refused (probes, unknown serials, other signature types, other keys, amounts that are not
integers), the acknowledgements, and the platform certificates: downloaded when a serial is new
(rotation), rate-limited for serials that stay unknown, never trusted unless decrypted with our
APIv3 key; a merchant moving to the public key is verified by either."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from domain.errors import InvalidSignatureError
from domain.money import CNY, Money
from plugins.wechat_pay.keys import MISS_SECONDS
from ports.payment_provider import NotificationOutcome, ProviderEventKind
from wechat_pay_keys import new_key
from wechat_pay_support import rig

MODES = ("public_key", "certificate")


async def prepared(r, headers, body):
    await r.provider.prepare_notification(headers, body)
    return r.provider.parse_notification(headers, body)


def resealed(r, body: bytes, **changes) -> bytes:
    """`body` with its resource decrypted, changed and encrypted again (then signed anew by the caller)."""
    resource = {**r.fake.decrypt(body), **changes}
    notification = json.loads(body)
    sealed = notification["resource"]
    notification["resource"] = {"original_type": sealed["original_type"],
                                **r.fake.encrypt(json.dumps(resource).encode(), sealed["associated_data"])}
    return json.dumps(notification).encode()


@pytest.mark.parametrize("mode", MODES)
async def test_a_payment_notification_is_read_from_its_decrypted_resource(mode):
    r = rig(mode)
    await r.provider.open_payment(r.order())
    headers, body = r.fake.pay("S20260301A1B2C3D4", openid="oPayerOpenId42")

    event = await prepared(r, headers, body)

    assert event.kind is ProviderEventKind.PAYMENT_SUCCEEDED
    assert (event.event_id, event.order_id) == (json.loads(body)["id"], "S20260301A1B2C3D4")
    assert event.amount == Money(1700, CNY) and event.merchant_id == r.fake.mchid == r.provider.merchant_id
    assert event.provider_reference == r.fake.orders["S20260301A1B2C3D4"].transaction_id
    assert event.payer_id == "oPayerOpenId42"
    assert event.occurred_at == datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize(("status", "kind", "reason"), [("SUCCESS", ProviderEventKind.REFUND_SUCCEEDED, None),
                                                        ("ABNORMAL", ProviderEventKind.REFUND_FAILED, "abnormal"),
                                                        ("CLOSED", ProviderEventKind.REFUND_FAILED, "closed")])
async def test_refund_notifications_settle_refunds_with_the_reason_a_query_would_give(status, kind, reason):
    r = rig()
    headers, body = r.fake.refund_notification("S20260301A1B2C3D4", "R20260301K3M9Q2", 900, 1700, status=status)

    event = r.provider.parse_notification(headers, body)

    assert (event.kind, event.order_id, event.refund_order_id) == (kind, "S20260301A1B2C3D4", "R20260301K3M9Q2")
    assert event.amount == Money(900, CNY) and event.event_id == json.loads(body)["id"]
    assert event.failure_reason == reason


async def test_another_event_type_is_authentic_but_ignored():
    r = rig()
    headers, body = r.fake.notification("TRANSACTION.SOMETHING_NEW", {"out_trade_no": "S20260301A1B2C3D4"},
                                        original_type="transaction")

    event = r.provider.parse_notification(headers, body)

    assert (event.kind, event.order_id) == (ProviderEventKind.IGNORED, "S20260301A1B2C3D4")


async def test_a_notification_for_another_appid_cannot_match_our_merchant():
    r = rig()
    headers, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700, appid="wxSOMEONEELSE00000")

    event = r.provider.parse_notification(headers, body)

    assert event.merchant_id != r.provider.merchant_id  # the core logs an anomaly and changes nothing


@pytest.mark.parametrize("written", [1700.0, "1700", "17.00", True, None, -1])
async def test_an_amount_that_is_not_a_whole_number_of_fen_is_refused_never_rounded(written):
    r = rig()
    _, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)
    body = resealed(r, body, amount={"total": written, "currency": "CNY"})

    with pytest.raises(InvalidSignatureError, match="cannot be read"):
        r.provider.parse_notification(r.fake.sign(body), body)


async def test_an_amount_beside_the_one_read_written_as_a_float_is_refused_too():
    r = rig()
    _, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)
    body = resealed(r, body, amount={"total": 1700, "payer_total": 1700.0, "currency": "CNY"})

    with pytest.raises(InvalidSignatureError, match="cannot be read"):
        r.provider.parse_notification(r.fake.sign(body), body)


async def test_a_currency_the_service_does_not_know_is_refused():
    r = rig()
    headers, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700, currency="XTS")

    with pytest.raises(InvalidSignatureError):
        r.provider.parse_notification(headers, body)


@pytest.mark.parametrize("mode", MODES)
async def test_signature_probes_are_refused(mode):
    r = rig(mode)
    headers, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)
    await r.provider.prepare_notification(headers, body)

    probe = {**headers, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]}
    with pytest.raises(InvalidSignatureError, match="probe"):
        r.provider.parse_notification(probe, body)


@pytest.mark.parametrize("mode", MODES)
async def test_a_notification_naming_a_serial_we_hold_no_key_for_is_refused(mode):
    r = rig(mode)
    headers, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)
    for serial in ("PUB_KEY_ID_0119999999999999999", "7" * 40, "not a serial"):
        wrong = {**headers, "Wechatpay-Serial": serial}
        with pytest.raises(InvalidSignatureError, match="serial"):
            await prepared(r, wrong, body)


async def test_a_signature_type_other_than_rsa_is_refused_and_an_absent_one_is_taken_as_rsa():
    r = rig()
    headers, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)

    with pytest.raises(InvalidSignatureError, match="signature type"):
        r.provider.parse_notification({**headers, "Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}, body)
    without = {k: v for k, v in headers.items() if k != "Wechatpay-Signature-Type"}
    assert r.provider.parse_notification(without, body).order_id == "S20260301A1B2C3D4"


async def test_a_resource_sealed_with_another_apiv3_key_or_other_associated_data_is_refused():
    r = rig()
    _, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)
    notification = json.loads(body)
    notification["resource"]["associated_data"] = "certificate"
    other_ad = json.dumps(notification).encode()
    with pytest.raises(InvalidSignatureError, match="APIv3"):
        r.provider.parse_notification(r.fake.sign(other_ad), other_ad)

    own_key = r.fake.api_v3_key
    r.fake.api_v3_key = "z" * 32
    _, foreign = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)
    r.fake.api_v3_key = own_key
    with pytest.raises(InvalidSignatureError, match="APIv3"):
        r.provider.parse_notification(r.fake.sign(foreign), foreign)


async def test_an_empty_associated_data_is_used_as_given():
    r = rig()
    headers, body = r.fake.notification("TRANSACTION.SUCCESS", json.loads(json.dumps({
        "appid": r.fake.appid, "mchid": r.fake.mchid, "out_trade_no": "S20260301A1B2C3D4", "trade_state": "SUCCESS",
        "amount": {"total": 1700, "currency": "CNY"}})), original_type="transaction", associated_data="")

    assert r.provider.parse_notification(headers, body).amount == Money(1700, CNY)


def test_acknowledgements_are_wechats_own():
    r = rig()

    accepted = r.provider.acknowledge(NotificationOutcome.ACCEPTED)
    rejected = r.provider.acknowledge(NotificationOutcome.REJECTED)
    retry = r.provider.acknowledge(NotificationOutcome.RETRY)

    assert (accepted.status, accepted.body) == (204, b"")
    refusal = json.loads(rejected.body)
    assert rejected.status == 401 and refusal["code"] == "FAIL" and refusal["message"]
    assert retry.status == 500 and json.loads(retry.body)["code"] == "FAIL"


# ---------------------------------------------------------------------- platform certificates
def downloads(r) -> int:
    return sum(1 for q in r.fake.requests if q.path == "/v3/certificates")


async def test_a_rotated_certificate_is_downloaded_when_a_notification_names_it_and_the_old_one_still_verifies():
    r = rig("certificate")
    old_headers, old_body = r.fake.transaction_notification("S20260301OLD00001", 1700)
    await prepared(r, old_headers, old_body)
    assert downloads(r) == 1

    new_serial = r.fake.rotate_certificate()
    headers, body = r.fake.transaction_notification("S20260301NEW00001", 1700)
    assert headers["Wechatpay-Serial"] == new_serial
    with pytest.raises(InvalidSignatureError, match="serial"):  # not held yet: parse alone refuses
        r.provider.parse_notification(headers, body)

    assert (await prepared(r, headers, body)).order_id == "S20260301NEW00001"
    assert downloads(r) == 2
    assert set(r.provider.platform_certificate_serials) == {c.serial for c in r.fake.certificates}
    assert r.provider.parse_notification(old_headers, old_body).order_id == "S20260301OLD00001"
    await prepared(r, headers, body)
    assert downloads(r) == 2  # held: nothing downloaded again


async def test_an_answer_signed_by_a_rotated_certificate_is_verified_after_downloading_it():
    r = rig("certificate")
    await r.provider.query_payment("S20260301WARMUP01")
    r.fake.rotate_certificate()

    await r.provider.open_payment(r.order())

    assert downloads(r) == 2 and r.fake.serial in r.provider.platform_certificate_serials


async def test_a_serial_that_stays_unknown_is_not_looked_for_again_for_a_minute():
    r = rig("certificate")
    headers, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)
    forged = {**headers, "Wechatpay-Serial": "5" * 40}

    for _ in range(5):
        with pytest.raises(InvalidSignatureError):
            await prepared(r, forged, body)
    assert downloads(r) == 1

    r.clock.advance(timedelta(seconds=MISS_SECONDS))
    headers, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)
    with pytest.raises(InvalidSignatureError):
        await prepared(r, {**headers, "Wechatpay-Serial": "5" * 40}, body)
    assert downloads(r) == 2


async def test_many_unknown_serials_cannot_make_us_hammer_wechat():
    r = rig("certificate")
    headers, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)

    for n in range(30):
        with pytest.raises(InvalidSignatureError):
            await prepared(r, {**headers, "Wechatpay-Serial": format(0x1000 + n, "X")}, body)

    assert downloads(r) == 10


async def test_certificates_that_do_not_decrypt_with_our_apiv3_key_are_not_trusted():
    r = rig("certificate")
    headers, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)
    r.fake.api_v3_key = "y" * 32  # an impostor serving /v3/certificates sealed with another key

    with pytest.raises(InvalidSignatureError):
        await prepared(r, headers, body)
    assert downloads(r) == 1 and r.provider.platform_certificate_serials == ()


async def test_a_certificate_download_signed_by_no_certificate_is_refused():
    r = rig("certificate")
    r.rewrite = lambda q, a: httpx.Response(a.status_code, content=a.content, headers={
        **a.headers, **r.fake.sign(a.content, key=new_key())}) if q.url.path == "/v3/certificates" else a
    headers, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)

    with pytest.raises(InvalidSignatureError):
        await prepared(r, headers, body)
    assert r.provider.platform_certificate_serials == ()


async def test_prepare_never_raises_when_the_download_fails():
    r = rig("certificate")
    headers, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)
    r.fake.fail_with(httpx.ConnectError("refused"))

    await r.provider.prepare_notification(headers, body)

    with pytest.raises(InvalidSignatureError):
        r.provider.parse_notification(headers, body)
    r.fake.fail_with(None)
    r.clock.advance(timedelta(seconds=MISS_SECONDS))
    assert (await prepared(r, headers, body)).order_id == "S20260301A1B2C3D4"


async def test_certificate_mode_refuses_a_public_key_serial_without_downloading():
    r = rig("certificate")
    headers, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)

    with pytest.raises(InvalidSignatureError, match="serial"):
        await prepared(r, {**headers, "Wechatpay-Serial": r.fake.public_key_id}, body)
    assert downloads(r) == 0


async def test_during_a_move_to_the_public_key_either_key_verifies():
    r = rig("public_key")
    r.fake.rotate_certificate()  # WeChat still signs some notifications with the platform certificate
    headers, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)
    assert headers["Wechatpay-Serial"] == r.fake.public_key_id
    certificate = r.fake.certificates[-1]
    by_certificate = r.fake.sign(body, key=certificate.key, serial=certificate.serial)

    assert r.provider.parse_notification(headers, body).order_id == "S20260301A1B2C3D4"
    assert (await prepared(r, by_certificate, body)).order_id == "S20260301A1B2C3D4"
    assert downloads(r) == 1


async def test_an_expired_certificate_no_longer_verifies():
    r = rig("certificate")
    headers, body = r.fake.transaction_notification("S20260301A1B2C3D4", 1700)
    await prepared(r, headers, body)
    expires = r.fake.certificates[0].expires

    r.clock.set(expires + timedelta(seconds=1))
    late = r.fake.sign(body)

    with pytest.raises(InvalidSignatureError, match="serial"):
        r.provider.parse_notification(late, body)
