"""A fake of WeChat Pay API v3's server side for one direct merchant, built to the published
protocol (../shared/providers/PROTOCOLS.md §2), not to the plugin: it checks each request's
`WECHATPAY2-SHA256-RSA2048` signature against the merchant's public key (as WeChat's gateway
does, rebuilt from the bytes on the wire), validates the fields the protocol names, keeps orders
and refunds, signs every answer with WeChat's key, and writes the notifications WeChat sends
(AES-256-GCM resource, signed headers).

Both verification modes: `mode="public_key"` signs with the WeChat Pay public key
(`PUB_KEY_ID_…`); `mode="certificate"` signs with its newest platform certificate, serves
`GET /v3/certificates` encrypted with the merchant's APIv3 key, and `rotate_certificate()`
makes a new one the signer (the old one stays listed until it expires).

Used in-process (`handle` is an `httpx.MockTransport` handler, or a respx side effect) and as a
real local HTTP server (`FakeWeChatPayServer`) for `payments serve` in the end-to-end tests.
Key material is generated at test time. The official SDK checks this fake in
test_wechat_pay_sdk_oracle.py.
"""
from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import attrs
import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256

from wechat_pay_keys import cached_key, certificate_pem, new_key, new_serial, private_pem, public_pem, validity

SCHEME = "WECHATPAY2-SHA256-RSA2048"
MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092026030100000000000001"
BEIJING = timezone(timedelta(hours=8))
Notification = tuple[dict[str, str], bytes]

_OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-*]{6,32}")
_OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d")
_ERROR_CODES = {400: "PARAM_ERROR", 401: "SIGN_ERROR", 403: "NO_AUTH", 404: "ORDER_NOT_EXIST",
                429: "RATELIMIT_EXCEEDED", 500: "SYSTEM_ERROR", 502: "SERVICE_UNAVAILABLE",
                503: "SERVICE_UNAVAILABLE"}


@attrs.define
class PlatformCertificate:
    key: RSAPrivateKey
    serial: str
    pem: str
    effective: datetime
    expires: datetime


@attrs.define
class FakeOrder:
    request: dict[str, Any]
    code_url: str
    state: str = "NOTPAY"
    transaction_id: str | None = None
    openid: str | None = None
    success_time: str | None = None

    @property
    def total(self) -> int:
        return self.request["amount"]["total"]


@attrs.define
class FakeRefund:
    out_trade_no: str
    out_refund_no: str
    refund: int
    total: int
    refund_id: str
    create_time: str
    notify_url: str | None
    reason: str | None
    status: str = "PROCESSING"
    success_time: str | None = None


@attrs.frozen
class SeenRequest:
    method: str
    path: str  # raw path with its query
    body: bytes
    headers: dict[str, str]
    authorization: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class FakeWeChatPay:
    """See the module docstring. `now` gives the unix time the fake lives at (a test's clock)."""

    def __init__(self, *, mode: str = "public_key", now: Callable[[], float] = time.time, mchid: str = MCHID,
                 appid: str = APPID, base_url: str = "https://api.mch.weixin.qq.com") -> None:
        assert mode in ("public_key", "certificate"), mode
        self.mode = mode
        self.now = now
        self.mchid = mchid
        self.appid = appid
        self.base_url = base_url.rstrip("/")
        self.api_v3_key = secrets.token_hex(16)  # 32 ASCII characters, as the merchant platform takes it
        self.merchant_key = cached_key("merchant")
        self.merchant_serial = new_serial()
        self.public_key = cached_key("wechat-pay-public-key")
        self.public_key_id = PUBLIC_KEY_ID
        self.certificates: list[PlatformCertificate] = []
        self._lock = threading.RLock()
        if mode == "certificate":
            self.rotate_certificate(cached_key("platform-0"))
        self.orders: dict[str, FakeOrder] = {}
        self.refunds: dict[str, FakeRefund] = {}
        self.requests: list[SeenRequest] = []
        self.failure: int | Exception | None = None
        # A refund WeChat refuses (status, code, message), e.g. (403, "NOT_ENOUGH", "基本账户余额不足"):
        # the request is still seen, and no refund is made; None: refunds are accepted.
        self.refund_refusal: tuple[int, str, str] | None = None

    # ------------------------------------------------------------------ the merchant's settings
    def settings(self, *, api_base: str | None = None, **overrides: str) -> dict[str, str]:
        """The PAYMENTS_WECHAT_PAY_* variables of this merchant (public-key mode sets the key)."""
        values = {"PAYMENTS_WECHAT_PAY_MCHID": self.mchid, "PAYMENTS_WECHAT_PAY_APPID": self.appid,
                  "PAYMENTS_WECHAT_PAY_PRIVATE_KEY": private_pem(self.merchant_key),
                  "PAYMENTS_WECHAT_PAY_CERT_SERIAL": self.merchant_serial,
                  "PAYMENTS_WECHAT_PAY_API_V3_KEY": self.api_v3_key,
                  "PAYMENTS_WECHAT_PAY_API_BASE": api_base or self.base_url}
        if self.mode == "public_key":
            values["PAYMENTS_WECHAT_PAY_PUBLIC_KEY"] = public_pem(self.public_key)
            values["PAYMENTS_WECHAT_PAY_PUBLIC_KEY_ID"] = self.public_key_id
        return {**values, **overrides}

    # ------------------------------------------------------------------ WeChat's keys
    @property
    def signer(self) -> tuple[RSAPrivateKey, str]:
        """The key WeChat signs with now, and the serial it names."""
        if self.mode == "public_key":
            return self.public_key, self.public_key_id
        newest = self.certificates[-1]
        return newest.key, newest.serial

    @property
    def serial(self) -> str:
        return self.signer[1]

    def rotate_certificate(self, key: RSAPrivateKey | None = None) -> str:
        """A new platform certificate becomes the signer; the ones before stay listed. Its serial."""
        with self._lock:
            key = key or new_key()
            serial = new_serial()
            effective, expires = validity(datetime.fromtimestamp(self.now(), timezone.utc))
            self.certificates.append(PlatformCertificate(key, serial, certificate_pem(key, serial, effective, expires),
                                                         effective, expires))
            return serial

    def sign(self, body: bytes, *, at: int | None = None, key: RSAPrivateKey | None = None,
             serial: str | None = None) -> dict[str, str]:
        """The headers WeChat puts on an answer or a notification of `body`."""
        signing_key, signing_serial = self.signer
        timestamp = str(int(self.now()) if at is None else at)
        nonce = secrets.token_hex(16)
        message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
        signature = base64.b64encode((key or signing_key).sign(message, PKCS1v15(), SHA256())).decode()
        return {"Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce, "Wechatpay-Signature": signature,
                "Wechatpay-Serial": serial or signing_serial, "Wechatpay-Signature-Type": SCHEME,
                "Request-ID": "08F0" + secrets.token_hex(8).upper()}

    def encrypt(self, plain: bytes, associated_data: str) -> dict[str, str]:
        nonce = secrets.token_hex(6)  # 12 characters, used as they are as the GCM nonce
        ciphertext = AESGCM(self.api_v3_key.encode()).encrypt(nonce.encode(), plain, associated_data.encode())
        return {"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(ciphertext).decode(),
                "associated_data": associated_data, "nonce": nonce}

    # ------------------------------------------------------------------ the transport
    def fail_with(self, failure: int | Exception | None) -> None:
        """From now on every call answers this HTTP status (WeChat's error body, unsigned) or
        raises this exception from the transport; None: work again."""
        self.failure = failure

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as WeChat Pay would (an `httpx.MockTransport` handler)."""
        with self._lock:
            body = request.read()
            if isinstance(self.failure, Exception):
                raise self.failure
            if isinstance(self.failure, int):
                code = _ERROR_CODES.get(self.failure, "SYSTEM_ERROR")
                return httpx.Response(self.failure, json={"code": code, "message": f"fault drill {self.failure}"})
            try:
                seen = self._authenticated(request, body)
                self.requests.append(seen)
                status, document = self._route(request.method, seen.path, body)
            except Refusal as refusal:
                status, document = refusal.status, {"code": refusal.code, "message": refusal.message}
            content = b"" if document is None else json.dumps(document, ensure_ascii=False).encode()
            headers = self.sign(content)
            if document is not None:
                headers["Content-Type"] = "application/json; charset=utf-8"
            return httpx.Response(status, content=content, headers=headers)

    def _authenticated(self, request: httpx.Request, body: bytes) -> SeenRequest:
        """What WeChat's gateway checks: the scheme, the five fields, the merchant, the time and
        the signature over METHOD\\nPATH?QUERY\\nTIME\\nNONCE\\nBODY\\n as sent."""
        header = request.headers.get("Authorization", "")
        scheme, _, params = header.partition(" ")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        if scheme != SCHEME or set(fields) != {"mchid", "nonce_str", "signature", "timestamp", "serial_no"}:
            raise Refusal(401, "SIGN_ERROR", "Authorization is not WECHATPAY2-SHA256-RSA2048 with its five fields")
        if fields["mchid"] != self.mchid or fields["serial_no"] != self.merchant_serial:
            raise Refusal(401, "SIGN_ERROR", "unknown merchant or merchant certificate serial")
        if not fields["timestamp"].isdigit() or abs(int(fields["timestamp"]) - self.now()) > 300:
            raise Refusal(401, "SIGN_ERROR", "the request's timestamp is too far from now")
        path = request.url.raw_path
        message = b"\n".join([request.method.encode(), path, fields["timestamp"].encode(),
                              fields["nonce_str"].encode(), body]) + b"\n"
        try:
            self.merchant_key.public_key().verify(base64.b64decode(fields["signature"]), message, PKCS1v15(), SHA256())
        except (InvalidSignature, ValueError):
            raise Refusal(401, "SIGN_ERROR", "签名错误") from None
        return SeenRequest(request.method, path.decode(), body, dict(request.headers), fields)

    def _route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        route, _, query = path.partition("?")
        parameters = {k: v[0] for k, v in parse_qs(query).items()}
        if method == "POST" and route == "/v3/pay/transactions/native":
            return 200, self._native(_document(body))
        if match := re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)", route):
            if method == "GET":
                if parameters.get("mchid") != self.mchid:
                    raise Refusal(400, "PARAM_ERROR", "mchid is missing or not yours")
                return 200, self._transaction(self._order(match[1]))
        if (match := re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)/close", route)) and method == "POST":
            self._close(match[1], _document(body))
            return 204, None
        if route == "/v3/refund/domestic/refunds" and method == "POST":
            return 200, self._refund(_document(body))
        if (match := re.fullmatch(r"/v3/refund/domestic/refunds/([^/]+)", route)) and method == "GET":
            refund = self.refunds.get(match[1])
            if refund is None:
                raise Refusal(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            return 200, self._refund_object(refund)
        if route == "/v3/certificates" and method == "GET":
            return 200, self._certificates()
        raise Refusal(404, "NOT_FOUND", f"no such API: {method} {route}")

    # ------------------------------------------------------------------ the API
    def _native(self, request: dict[str, Any]) -> dict[str, Any]:
        _check(request.get("appid") == self.appid and request.get("mchid") == self.mchid, 400,
               "APPID_MCHID_NOT_MATCH", "appid and mchid do not match")
        description = request.get("description")
        _check(isinstance(description, str) and 0 < len(description) <= 127 and _bmp(description), 400,
               "PARAM_ERROR", "description: 1-127 characters of 1-3-byte UTF-8")
        out_trade_no = request.get("out_trade_no")
        _check(isinstance(out_trade_no, str) and _OUT_TRADE_NO.fullmatch(out_trade_no), 400, "PARAM_ERROR",
               "out_trade_no: 6-32 of [0-9A-Za-z_-*]")
        _check_notify_url(request.get("notify_url"), required=True)
        amount = request.get("amount")
        _check(isinstance(amount, dict) and type(amount.get("total")) is int and amount["total"] >= 1, 400,
               "PARAM_ERROR", "amount.total: an integer number of fen, at least 1")
        _check(amount.get("currency", "CNY") == "CNY", 400, "PARAM_ERROR", "amount.currency must be CNY")
        time_expire = request.get("time_expire")
        if time_expire is not None:
            _check(isinstance(time_expire, str) and _RFC3339.fullmatch(time_expire), 400, "PARAM_ERROR",
                   "time_expire: RFC 3339 with its offset")
            _check(datetime.fromisoformat(time_expire).timestamp() > self.now(), 400, "PARAM_ERROR",
                   "time_expire is in the past")
        found = self.orders.get(out_trade_no)
        if found is not None:
            _check(found.state not in ("SUCCESS", "REFUND"), 400, "ORDERPAID", "该订单已支付")
            _check(found.state != "CLOSED", 400, "ORDER_CLOSED", "订单已关闭")
            same = all(found.request.get(k) == request.get(k) for k in ("appid", "description", "amount"))
            _check(same, 403, "OUT_TRADE_NO_USED", "商户订单号重复")
            return {"code_url": found.code_url}
        order = FakeOrder(request, f"weixin://wxpay/bizpayurl?pr={secrets.token_urlsafe(6)}")
        self.orders[out_trade_no] = order
        return {"code_url": order.code_url}

    def _order(self, out_trade_no: str) -> FakeOrder:
        order = self.orders.get(out_trade_no)
        if order is None:
            raise Refusal(404, "ORDER_NOT_EXIST", "订单不存在")
        return order

    def _transaction(self, order: FakeOrder) -> dict[str, Any]:
        document: dict[str, Any] = {
            "appid": self.appid, "mchid": self.mchid, "out_trade_no": order.request["out_trade_no"],
            "trade_type": "NATIVE", "trade_state": order.state,
            "trade_state_desc": {"NOTPAY": "订单未支付", "CLOSED": "已关闭", "SUCCESS": "支付成功",
                                 "REFUND": "转入退款"}.get(order.state, order.state),
            "attach": "", "amount": {"total": order.total, "currency": "CNY"}}
        if order.transaction_id is not None:
            document.update(transaction_id=order.transaction_id, bank_type="OTHERS", success_time=order.success_time,
                            payer={"openid": order.openid},
                            amount={"total": order.total, "payer_total": order.total, "currency": "CNY",
                                    "payer_currency": "CNY"})
        return document

    def _close(self, out_trade_no: str, request: dict[str, Any]) -> None:
        _check(request == {"mchid": self.mchid}, 400, "PARAM_ERROR", 'the body is {"mchid": …} of this merchant')
        order = self._order(out_trade_no)
        _check(order.state not in ("SUCCESS", "REFUND"), 400, "ORDERPAID", "订单已支付")
        order.state = "CLOSED"

    def _refund(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.refund_refusal is not None:
            raise Refusal(*self.refund_refusal)
        out_refund_no = request.get("out_refund_no")
        _check(isinstance(out_refund_no, str) and _OUT_REFUND_NO.fullmatch(out_refund_no), 400, "PARAM_ERROR",
               "out_refund_no: 1-64 of [0-9A-Za-z_-|*@]")
        reason = request.get("reason")
        _check(reason is None or (isinstance(reason, str) and len(reason) <= 80 and _bmp(reason)), 400,
               "PARAM_ERROR", "reason: at most 80 characters")
        _check_notify_url(request.get("notify_url"), required=False)
        amount = request.get("amount")
        _check(isinstance(amount, dict) and type(amount.get("refund")) is int and type(amount.get("total")) is int
               and amount["refund"] >= 1, 400, "PARAM_ERROR", "amount.refund and amount.total: integers of fen")
        _check(amount.get("currency") == "CNY", 400, "PARAM_ERROR", "amount.currency is required: CNY")
        out_trade_no = request.get("out_trade_no")
        order = self._order(out_trade_no) if isinstance(out_trade_no, str) else None
        _check(order is not None, 400, "PARAM_ERROR", "out_trade_no or transaction_id is required")
        _check(amount["total"] == order.total, 400, "PARAM_ERROR", "amount.total is not the order's total")
        found = self.refunds.get(out_refund_no)
        if found is not None:  # the same refund number is the same refund
            _check((found.out_trade_no, found.refund) == (out_trade_no, amount["refund"]), 400, "INVALID_REQUEST",
                   "the out_refund_no was used with other parameters")
            return self._refund_object(found)
        _check(order.state in ("SUCCESS", "REFUND"), 400, "INVALID_REQUEST", "订单未支付")
        refunded = sum(r.refund for r in self.refunds.values()
                       if r.out_trade_no == out_trade_no and r.status in ("PROCESSING", "SUCCESS", "ABNORMAL"))
        _check(refunded + amount["refund"] <= order.total, 400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        refund = FakeRefund(out_trade_no, out_refund_no, amount["refund"], order.total,
                            "5030" + secrets.token_hex(12), self._beijing_now(), request.get("notify_url"), reason)
        self.refunds[out_refund_no] = refund
        order.state = "REFUND"
        return self._refund_object(refund)

    def _refund_object(self, refund: FakeRefund) -> dict[str, Any]:
        order = self.orders[refund.out_trade_no]
        return {"refund_id": refund.refund_id, "out_refund_no": refund.out_refund_no,
                "transaction_id": order.transaction_id, "out_trade_no": refund.out_trade_no, "channel": "ORIGINAL",
                "user_received_account": "支付用户零钱", "success_time": refund.success_time,
                "create_time": refund.create_time, "status": refund.status, "funds_account": "AVAILABLE",
                "amount": {"total": refund.total, "refund": refund.refund, "payer_total": refund.total,
                           "payer_refund": refund.refund, "settlement_refund": refund.refund,
                           "settlement_total": refund.total, "discount_refund": 0, "currency": "CNY", "from": []}}

    def _certificates(self) -> dict[str, Any]:
        return {"data": [{"serial_no": c.serial, "effective_time": c.effective.astimezone(BEIJING).isoformat(),
                          "expire_time": c.expires.astimezone(BEIJING).isoformat(),
                          "encrypt_certificate": self.encrypt(c.pem.encode(), "certificate")}
                         for c in self.certificates]}

    # ------------------------------------------------------------------ the payer, and notifications
    def pay(self, out_trade_no: str, *, openid: str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o") -> Notification:
        """The payer scanned and paid: the order is SUCCESS. The TRANSACTION.SUCCESS notification
        WeChat then sends (the test decides whether it arrives)."""
        with self._lock:
            order = self._order(out_trade_no)
            if order.state == "NOTPAY":
                order.state = "SUCCESS"
                order.transaction_id = "4200" + "".join(secrets.choice("0123456789") for _ in range(24))
                order.openid = openid
                order.success_time = self._beijing_now()
            elif order.state == "CLOSED":
                raise Refusal(400, "ORDER_CLOSED", "a closed order cannot be paid")
            return self.notification("TRANSACTION.SUCCESS", self._transaction(order), original_type="transaction")

    def settle_refund(self, out_refund_no: str, status: str = "SUCCESS") -> Notification:
        """The refund ended (`SUCCESS`, `ABNORMAL` or `CLOSED`): the REFUND.* notification sent."""
        with self._lock:
            refund = self.refunds[out_refund_no]
            refund.status = status
            refund.success_time = self._beijing_now() if status == "SUCCESS" else None
            return self.refund_notification(refund.out_trade_no, out_refund_no, refund.refund, refund.total,
                                            status=status, refund_id=refund.refund_id)

    def transaction_notification(self, out_trade_no: str, total: int, currency: str = "CNY", **changes: Any,
                                 ) -> Notification:
        """A TRANSACTION.SUCCESS notification about any order (it need not exist here)."""
        resource = {"appid": self.appid, "mchid": self.mchid, "out_trade_no": out_trade_no,
                    "transaction_id": "4200" + secrets.token_hex(12), "trade_type": "NATIVE", "trade_state": "SUCCESS",
                    "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": "",
                    "success_time": self._beijing_now(), "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
                    "amount": {"total": total, "payer_total": total, "currency": currency, "payer_currency": currency}}
        resource.update(changes)
        return self.notification("TRANSACTION.SUCCESS", resource, original_type="transaction")

    def refund_notification(self, out_trade_no: str, out_refund_no: str, refund: int, total: int, *,
                            status: str = "SUCCESS", refund_id: str | None = None) -> Notification:
        resource = {"mchid": self.mchid, "out_trade_no": out_trade_no, "transaction_id": "4200" + secrets.token_hex(12),
                    "out_refund_no": out_refund_no, "refund_id": refund_id or "5030" + secrets.token_hex(12),
                    "refund_status": status, "success_time": self._beijing_now(),
                    "user_received_account": "支付用户零钱",
                    "amount": {"total": total, "refund": refund, "payer_total": total, "payer_refund": refund}}
        return self.notification(f"REFUND.{status}", resource, original_type="refund")

    def notification(self, event_type: str, resource: dict[str, Any], *, original_type: str,
                     associated_data: str | None = None, at: int | None = None, key: RSAPrivateKey | None = None,
                     serial: str | None = None, event_id: str | None = None) -> Notification:
        """A notification as WeChat POSTs it: (headers, raw body)."""
        plain = json.dumps(resource, ensure_ascii=False).encode()
        sealed = {"original_type": original_type,
                  **self.encrypt(plain, original_type if associated_data is None else associated_data)}
        body = json.dumps({"id": event_id or f"EV-{secrets.token_hex(10)}", "create_time": self._beijing_now(),
                           "resource_type": "encrypt-resource", "event_type": event_type,
                           "summary": "支付成功" if event_type.startswith("TRANSACTION") else "退款状态变更",
                           "resource": sealed}, ensure_ascii=False, separators=(",", ":")).encode()
        return self.sign(body, at=at, key=key, serial=serial), body

    def decrypt(self, body: bytes) -> dict[str, Any]:
        """The decrypted resource of a notification body (tests changing one)."""
        resource = json.loads(body)["resource"]
        plain = AESGCM(self.api_v3_key.encode()).decrypt(resource["nonce"].encode(),
                                                         base64.b64decode(resource["ciphertext"]),
                                                         resource["associated_data"].encode())
        return json.loads(plain)

    def _beijing_now(self) -> str:
        return datetime.fromtimestamp(int(self.now()), BEIJING).isoformat()


def _document(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "PARAM_ERROR", "the body is not UTF-8 JSON") from None
    _check(isinstance(document, dict), 400, "PARAM_ERROR", "the body is not a JSON object")
    return document


def _check(condition: Any, status: int, code: str, message: str) -> None:
    if not condition:
        raise Refusal(status, code, message)


def _check_notify_url(url: Any, *, required: bool) -> None:
    if url is None and not required:
        return
    _check(isinstance(url, str) and re.fullmatch(r"https?://[^\s?#]+", url) and len(url) <= 255, 400,
           "PARAM_ERROR", "notify_url: an absolute URL of at most 255 characters, without a query string")


def _bmp(text: str) -> bool:
    """Only 1-3-byte UTF-8 characters (WeChat refuses 4-byte ones such as emoji)."""
    return all(ord(ch) <= 0xFFFF for ch in text)


# ---------------------------------------------------------------------- a real local HTTP server
class FakeWeChatPayServer:
    """`fake` served over real HTTP on 127.0.0.1 (a free port) from a background thread, for a
    `payments serve` process to call: `with FakeWeChatPayServer(fake) as server: server.base_url`."""

    def __init__(self, fake: FakeWeChatPay) -> None:
        self.fake = fake
        fake_of_server = fake

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = httpx.Request(self.command, f"http://{self.headers.get('Host', 'localhost')}{self.path}",
                                        headers=list(self.headers.items()), content=body)
                try:
                    response = fake_of_server.handle(request)
                except Exception:  # a fault drill raising a transport error: drop the connection
                    self.close_connection = True
                    return
                content = response.content
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-wechat-pay", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeWeChatPayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
