"""A fake Alipay gateway, built to Alipay's published protocol (`../shared/providers/PROTOCOLS.md`
§3), independent of the plugin's code: it checks every request as Alipay would (RSA2 over the
sorted raw `k=v` string, our app id, Beijing timestamps, yuan amounts) and answers with signed
response nodes; it writes notifications the way Alipay sends them. Used by the plugin's tests
through `httpx.MockTransport(gateway.handle)` and, as a real local HTTP server (`serve`), by the
end-to-end test.

What it models (the parts the plugin relies on):
- `precreate` / page pay / wap pay announce an order; the **trade exists only once the payer
  scans** (`scan`) or opens the payment page (`visit`): before that, query and close answer
  `ACQ.TRADE_NOT_EXIST`.
- `pay` moves a trade to `TRADE_SUCCESS` and queues Alipay's notification (`outbox`); `close`
  moves an unpaid trade to `TRADE_CLOSED`; closing a paid or closed one is `ACQ.TRADE_STATUS_ERROR`.
- Refunds by `out_request_no` (the same number again moves no money: `fund_change` `N`), never
  beyond the paid total (`ACQ.REFUND_AMT_NOT_EQUAL_TOTAL`); a full refund closes the trade. Each
  refund queues a refund notification (`out_biz_no`, `refund_fee`, `gmt_refund`).
- `fail_with(status | httpx exception)` makes every call fail as a broken network or gateway would.

Keys are generated at test time (`TestKeys.generated()`), never stored.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs
import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256

GATEWAY = "https://openapi.alipay.test/gateway.do"
APP_ID = "2021000000000001"
SELLER_ID = "2088000000000001"
BUYER_ID = "2088102177846880"
BEIJING = timezone(timedelta(hours=8))
TIMESTAMP_TOLERANCE = timedelta(minutes=15)
_YUAN_TWO_DECIMALS = re.compile(r"(0|[1-9][0-9]*)\.[0-9]{2}")


# ---------------------------------------------------------------------- keys and RSA2, independently of the plugin
@attrs.frozen
class TestKeys:
    """Throw-away RSA keys: our app's (signs requests), Alipay's (signs answers and notifications)
    and a stranger's (forgeries)."""

    __test__ = False  # not a test class

    app: rsa.RSAPrivateKey
    alipay: rsa.RSAPrivateKey
    stranger: rsa.RSAPrivateKey

    @staticmethod
    @functools.cache
    def generated() -> TestKeys:
        new = functools.partial(rsa.generate_private_key, public_exponent=65537, key_size=2048)
        return TestKeys(new(), new(), new())

    def settings(self, **overrides: str) -> dict[str, str]:
        """The plugin's settings for these keys (our private key as PKCS#8 PEM, Alipay's public key
        as the bare base64 the Alipay console shows)."""
        return {"PAYMENTS_ALIPAY_APP_ID": APP_ID, "PAYMENTS_ALIPAY_PRIVATE_KEY": private_pem(self.app),
                "PAYMENTS_ALIPAY_PUBLIC_KEY": pem_body(public_pem(self.alipay)),
                "PAYMENTS_ALIPAY_GATEWAY": GATEWAY, "PAYMENTS_PUBLIC_URL": "https://payments.example.test",
                **overrides}


def private_pem(key: rsa.RSAPrivateKey, *, pkcs1: bool = False) -> str:
    layout = serialization.PrivateFormat.TraditionalOpenSSL if pkcs1 else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, layout, serialization.NoEncryption()).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def pem_body(pem: str) -> str:
    return "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))


def sign_content(params: Mapping[str, str], exclude: tuple[str, ...] = ("sign",)) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in exclude and v not in (None, ""))


def rsa2_sign(key: rsa.RSAPrivateKey, content: str) -> str:
    return base64.b64encode(key.sign(content.encode("utf-8"), PKCS1v15(), SHA256())).decode()


def rsa2_valid(public_key: rsa.RSAPublicKey, content: str, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature), content.encode("utf-8"), PKCS1v15(), SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def beijing(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def signed_response(method: str, payload: Mapping[str, Any], key: rsa.RSAPrivateKey) -> str:
    node = method.replace(".", "_") + "_response"
    inner = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return '{"%s":%s,"sign":"%s"}' % (node, inner, rsa2_sign(key, inner))


def signed_form(fields: Mapping[str, str], key: rsa.RSAPrivateKey) -> bytes:
    """A notification body as Alipay POSTs it: the fields with `sign_type` and `sign` (over every
    field but those two), form-encoded."""
    fields = {**fields, "sign_type": "RSA2"}
    fields["sign"] = rsa2_sign(key, sign_content(fields, exclude=("sign", "sign_type")))
    return urlencode(fields).encode("ascii")


# ---------------------------------------------------------------------- the gateway's state
@attrs.define
class Announced:
    """An order announced by precreate / page pay / wap pay, before the payer arrives."""

    method: str
    biz: dict[str, Any]
    notify_url: str | None
    return_url: str | None = None


@attrs.define
class Trade:
    out_trade_no: str
    total: int  # fen
    subject: str
    notify_url: str | None
    trade_no: str
    created_at: datetime
    status: str = "WAIT_BUYER_PAY"
    paid_at: datetime | None = None
    buyer_id: str = BUYER_ID
    refunds: dict[str, int] = attrs.Factory(dict)  # out_request_no → fen

    @property
    def refunded(self) -> int:
        return sum(self.refunds.values())


class FakeAlipayGateway:
    """See the module docstring. `clock()` gives the gateway's now (aware)."""

    def __init__(self, *, keys: TestKeys, clock: Callable[[], datetime], gateway_url: str = GATEWAY,
                 app_id: str = APP_ID, seller_id: str = SELLER_ID) -> None:
        self.keys = keys
        self.clock = clock
        self.gateway_url = gateway_url
        self.app_id = app_id
        self.seller_id = seller_id
        self.announced: dict[str, Announced] = {}
        self.trades: dict[str, Trade] = {}
        self.calls: list[dict[str, str]] = []  # every verified request's parameters, in order
        self.outbox: list[tuple[str, bytes]] = []  # notifications to send: (notify_url, form body)
        self.failure: int | Exception | None = None
        # A refund Alipay refuses (sub_code, sub_msg), e.g. ("ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足"):
        # answered 40004 Business Failed, no money moves; None: refunds are made.
        self.refund_refusal: tuple[str, str] | None = None
        self._numbers = itertools.count(1)

    # ------------------------------------------------------------------ the server side
    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.failure is not None:
            if isinstance(self.failure, Exception):
                raise self.failure
            return httpx.Response(self.failure, text='{"error":"failure drill"}')
        if request.method != "POST":
            return httpx.Response(405)
        params = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return httpx.Response(400, text="form body expected")
        params.update(parse_qsl(request.content.decode("utf-8"), keep_blank_values=True))
        return httpx.Response(200, text=self.answer(params), headers={"Content-Type": "text/html;charset=utf-8"})

    def answer(self, params: dict[str, str]) -> str:
        method = params.get("method", "")
        refusal = self._check_request(params)
        if refusal is not None:
            return self._respond(method, refusal)
        self.calls.append(params)
        biz = json.loads(params["biz_content"])
        handlers = {"alipay.trade.precreate": self._precreate, "alipay.trade.query": self._query,
                    "alipay.trade.close": self._close, "alipay.trade.refund": self._refund,
                    "alipay.trade.fastpay.refund.query": self._refund_query}
        if method not in handlers:
            return json.dumps({"error_response": {"code": "40002", "msg": "Invalid Arguments",
                                                  "sub_code": "isv.invalid-method", "sub_msg": "不存在的方法名"}})
        return self._respond(method, handlers[method](biz, params))

    def _check_request(self, params: dict[str, str]) -> dict[str, str] | None:
        def invalid(sub_code: str, sub_msg: str) -> dict[str, str]:
            return {"code": "40002", "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": sub_msg}
        if params.get("app_id") != self.app_id:
            return invalid("isv.invalid-app-id", "无效的AppID参数")
        if (params.get("sign_type"), params.get("charset"), params.get("version")) != ("RSA2", "utf-8", "1.0"):
            return invalid("isv.invalid-signature-type", "sign_type RSA2, charset utf-8 and version 1.0 expected")
        if not rsa2_valid(self.keys.app.public_key(), sign_content(params), params.get("sign", "")):
            return invalid("isv.invalid-signature", "验签出错")
        try:
            sent = datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        except ValueError:
            return invalid("isv.invalid-timestamp", "非法的时间戳参数")
        if abs(sent - self.clock()) > TIMESTAMP_TOLERANCE:
            return invalid("isv.invalid-timestamp", "时间戳与支付宝时间相差过大 (Beijing time expected)")
        try:
            if not isinstance(json.loads(params.get("biz_content", "")), dict):
                raise ValueError
        except ValueError:
            return invalid("isv.invalid-biz-content", "biz_content must be a JSON object")
        return None

    def _respond(self, method: str, payload: Mapping[str, Any]) -> str:
        return signed_response(method, payload, self.keys.alipay)

    @staticmethod
    def _failed(sub_code: str, sub_msg: str) -> dict[str, str]:
        return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}

    @staticmethod
    def _missing(name: str) -> dict[str, str]:
        return {"code": "40001", "msg": "Missing Required Arguments", "sub_code": f"isv.missing-{name}",
                "sub_msg": f"缺少{name}"}

    def _precreate(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, str]:
        order_id, amount = biz.get("out_trade_no"), biz.get("total_amount")
        if not order_id or not biz.get("subject"):
            return self._missing("out_trade_no or subject")
        if not isinstance(amount, str) or not _YUAN_TWO_DECIMALS.fullmatch(amount):
            return {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-total-amount",
                    "sub_msg": "total_amount must be a yuan string with two decimals"}
        trade = self.trades.get(order_id)
        if trade is not None and trade.status == "TRADE_SUCCESS":
            return self._failed("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
        if trade is not None and trade.status == "TRADE_CLOSED":
            return self._failed("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        before = self.announced.get(order_id)
        if before is not None and before.biz.get("total_amount") != amount:
            return self._failed("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
        if before is None:
            self.announced[order_id] = Announced("alipay.trade.precreate", biz, params.get("notify_url"))
        return {"code": "10000", "msg": "Success", "out_trade_no": order_id, "qr_code": self.qr_code(order_id)}

    @staticmethod
    def qr_code(order_id: str) -> str:
        return "https://qr.alipay.com/bax" + hashlib.sha256(order_id.encode()).hexdigest()[:20]

    def _query(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, str]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return self._failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
        node = {"code": "10000", "msg": "Success", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
                "buyer_logon_id": "159****5620", "trade_status": trade.status, "total_amount": yuan(trade.total),
                "buyer_user_id": trade.buyer_id}
        if trade.paid_at is not None:
            node.update(send_pay_date=beijing(trade.paid_at), receipt_amount=yuan(trade.total),
                        buyer_pay_amount=yuan(trade.total))
        return node

    def _close(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, str]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return self._failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if trade.status != "WAIT_BUYER_PAY":
            return self._failed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        trade.status = "TRADE_CLOSED"
        return {"code": "10000", "msg": "Success", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}

    def _refund(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, str]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        request_no, amount = biz.get("out_request_no"), biz.get("refund_amount")
        if not request_no:
            return self._missing("out_request_no")
        if not isinstance(amount, str) or not _YUAN_TWO_DECIMALS.fullmatch(amount):
            return {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-refund-amount",
                    "sub_msg": "refund_amount must be a yuan string with two decimals"}
        if trade is None:
            return self._failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if self.refund_refusal is not None:
            return self._failed(*self.refund_refusal)
        fen = int(amount.replace(".", ""))
        if request_no in trade.refunds:  # the same refund again: its answer, no money moves
            return self._refunded(trade, "N")
        if trade.status == "WAIT_BUYER_PAY":
            return self._failed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if trade.status == "TRADE_CLOSED":
            return self._failed("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        if fen <= 0 or trade.refunded + fen > trade.total:
            return self._failed("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        trade.refunds[request_no] = fen
        if trade.refunded == trade.total:
            trade.status = "TRADE_CLOSED"
        if trade.notify_url:
            self.outbox.append((trade.notify_url, self.refund_notification(trade, request_no)))
        return self._refunded(trade, "Y")

    def _refunded(self, trade: Trade, fund_change: str) -> dict[str, str]:
        return {"code": "10000", "msg": "Success", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
                "buyer_logon_id": "159****5620", "fund_change": fund_change, "refund_fee": yuan(trade.refunded),
                "gmt_refund_pay": beijing(self.clock()), "buyer_user_id": trade.buyer_id}

    def _refund_query(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, str]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return self._failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
        request_no = biz.get("out_request_no", "")
        if request_no not in trade.refunds:
            return {"code": "10000", "msg": "Success"}  # Alipay answers no refund data: none was made
        node = {"code": "10000", "msg": "Success", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
                "out_request_no": request_no, "total_amount": yuan(trade.total),
                "refund_amount": yuan(trade.refunds[request_no]), "refund_status": "REFUND_SUCCESS"}
        if "gmt_refund_pay" in (biz.get("query_options") or []):
            node["gmt_refund_pay"] = beijing(self.clock())
        return node

    # ------------------------------------------------------------------ the payer's side
    def visit(self, url: str) -> str:
        """The payer's browser opens a signed page pay / wap pay URL: Alipay checks it as a
        request and the trade exists from now on. Returns the order id; raises AssertionError for
        a URL Alipay would refuse."""
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == self.gateway_url, url
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        refusal = self._check_request(params)
        assert refusal is None, refusal
        assert params["method"] in ("alipay.trade.page.pay", "alipay.trade.wap.pay"), params["method"]
        self.calls.append(params)
        biz = json.loads(params["biz_content"])
        expected = "FAST_INSTANT_TRADE_PAY" if params["method"] == "alipay.trade.page.pay" else "QUICK_WAP_WAY"
        assert biz.get("product_code") == expected, biz
        assert _YUAN_TWO_DECIMALS.fullmatch(biz["total_amount"]), biz
        self.announced.setdefault(biz["out_trade_no"], Announced(params["method"], biz, params.get("notify_url"),
                                                                  params.get("return_url")))
        self.scan(biz["out_trade_no"])
        return biz["out_trade_no"]

    def scan(self, order_id: str) -> Trade:
        """The payer scanned the QR code (or opened the page): the trade exists, waiting for payment."""
        if order_id in self.trades:
            return self.trades[order_id]
        announced = self.announced[order_id]
        now = self.clock()
        trade = Trade(order_id, int(announced.biz["total_amount"].replace(".", "")), announced.biz["subject"],
                      announced.notify_url, f"{now.astimezone(BEIJING):%Y%m%d}22001400{next(self._numbers):012d}",
                      created_at=now)
        self.trades[order_id] = trade
        return trade

    def pay(self, order_id: str, *, notify: bool = True) -> bytes:
        """The payer pays: the trade succeeds and Alipay's notification is queued in `outbox`
        (unless `notify=False`: a lost notification). Returns the notification body."""
        trade = self.scan(order_id)
        assert trade.status == "WAIT_BUYER_PAY", trade.status
        trade.status, trade.paid_at = "TRADE_SUCCESS", self.clock()
        body = self.trade_notification(trade)
        if notify and trade.notify_url:
            self.outbox.append((trade.notify_url, body))
        return body

    # ------------------------------------------------------------------ notifications
    def trade_notification(self, trade: Trade, *, key: rsa.RSAPrivateKey | None = None, **changes: str) -> bytes:
        fields = self.notification_fields(trade.out_trade_no, trade.total, trade.status, trade_no=trade.trade_no)
        return signed_form({**fields, **changes}, key or self.keys.alipay)

    def refund_notification(self, trade: Trade, request_no: str) -> bytes:
        fields = self.notification_fields(trade.out_trade_no, trade.total, trade.status, trade_no=trade.trade_no)
        fields.update(out_biz_no=request_no, refund_fee=yuan(trade.refunded), gmt_refund=beijing(self.clock()))
        return signed_form(fields, self.keys.alipay)

    def notification_fields(self, order_id: str, total: int, status: str, *, trade_no: str = "2026030122001400000001",
                            sent_at: datetime | None = None, notify_id: str | None = None) -> dict[str, str]:
        """The fields of Alipay's notification about a trade (as PROTOCOLS §3.7 lists them)."""
        now = sent_at or self.clock()
        fields = {
            "notify_time": beijing(now), "notify_type": "trade_status_sync",
            "notify_id": notify_id or f"2026{next(self._numbers):012d}" + hashlib.sha256(
                f"{order_id}{status}{now}{next(self._numbers)}".encode()).hexdigest()[:16],
            "app_id": self.app_id, "auth_app_id": self.app_id, "charset": "utf-8", "version": "1.0",
            "trade_no": trade_no, "out_trade_no": order_id, "buyer_id": BUYER_ID, "buyer_logon_id": "159****5620",
            "seller_id": self.seller_id, "seller_email": "merchant@example.test", "trade_status": status,
            "total_amount": yuan(total), "receipt_amount": yuan(total), "invoice_amount": yuan(total),
            "buyer_pay_amount": yuan(total), "point_amount": "0.00", "subject": "10 receives 收款",
            "gmt_create": beijing(now - timedelta(seconds=30)),
            "fund_bill_list": json.dumps([{"amount": yuan(total), "fundChannel": "ALIPAYACCOUNT"}],
                                         separators=(",", ":")),
        }
        if status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            fields["gmt_payment"] = beijing(now - timedelta(seconds=2))
        if status == "TRADE_CLOSED":
            fields["gmt_close"] = beijing(now)
        return fields


# ---------------------------------------------------------------------- as a real HTTP server
def web_app(gateway: FakeAlipayGateway):
    """The fake as an aiohttp application at the gateway URL's path: POSTs are server-to-server
    calls; a GET is a payer's browser opening a page pay / wap pay URL (the trade then exists)."""
    from aiohttp import web

    path = urlsplit(gateway.gateway_url).path

    async def call(request: web.Request) -> web.Response:
        body = await request.read()
        query = "?" + request.query_string if request.query_string else ""
        forwarded = httpx.Request("POST", gateway.gateway_url + query,
                                  headers={"Content-Type": request.headers.get("Content-Type", "")}, content=body)
        answer = gateway.handle(forwarded)
        return web.Response(status=answer.status_code, body=answer.content,
                            headers={"Content-Type": answer.headers.get("Content-Type", "text/plain")})

    async def page(request: web.Request) -> web.Response:
        order_id = gateway.visit(f"{gateway.gateway_url}?{request.query_string}")
        return web.Response(text=f"<html><body>Alipay cashier for {order_id}</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_post(path, call)
    app.router.add_get(path, page)
    return app
