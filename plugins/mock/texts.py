"""The mock checkout page's texts, in English and Simplified Chinese, and which one a request asks for.

A provider's page speaks the payer's language, and a plugin keeps its own texts (it never imports
the service's). The choice follows the service's rules for `Accept-Language`: the range with the
highest q-value that matches one of the two wins (on a tie the first listed); Simplified Chinese is
`zh`, `zh-CN`, `zh-SG`, `zh-Hans…` (not `zh-TW`, `zh-HK`, `zh-MO`, `zh-Hant`: there are no texts in
Traditional Chinese); `en…` and `*` are English; anything else is passed over, and English is the
default.
"""
from __future__ import annotations

import functools
import re

import attrs

from ports.payment_provider import LineKind, OrderLine

ENGLISH = "en"
CHINESE = "zh-CN"

_RANGE = re.compile(r"^(\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)$")
_QUALITY = re.compile(r"^[qQ]=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")
_TRADITIONAL = frozenset({"hant", "tw", "hk", "mo"})


@functools.lru_cache(maxsize=256)
def language(accept_language: str | None) -> str:
    """`ENGLISH` or `CHINESE` for an `Accept-Language` header value (None: not sent)."""
    best, best_quality = ENGLISH, 0.0
    for item in (accept_language or "").split(","):
        tag, _, parameters = item.strip().partition(";")
        tag, parameters = tag.strip().lower(), parameters.replace(" ", "")
        quality_match = _QUALITY.match(parameters) if parameters else None
        quality = 1.0 if not parameters else float(quality_match.group(1)) if quality_match else None
        if not _RANGE.match(tag) or quality is None or quality <= best_quality:
            continue
        primary, *subtags = tag.split("-")
        if tag == "*" or primary == "en":
            best, best_quality = ENGLISH, quality
        elif primary == "zh" and (not subtags or subtags[0] == "hans" or subtags[0] not in _TRADITIONAL):
            best, best_quality = CHINESE, quality
    return best


@attrs.frozen
class Texts:
    """Every text of the page in one language."""

    lang: str
    title: str  # with {order_id}
    heading: str
    pay_with: str  # with {method}
    order: str
    total: str
    pay: str
    decline: str
    qr_alt: str
    pay_before: str  # with {time}: shown until the script counts down
    time_left: str  # the countdown's label
    expired: str
    state: dict[str, str]  # the order's state, on a page that can no longer be paid
    paid: str
    declined: str
    not_this_form: str
    choose: str
    closed: str
    methods: dict[str, str]
    plans: dict[str, str]
    receives: str  # with {quantity}
    discount: str
    plan: str  # with {plan}
    plan_credit: str  # with {plan}
    card: str = "Card (kept when the payment saves the method)"  # the `card` select (saved methods)
    cards: dict[str, str] = attrs.field(factory=lambda: {
        "ok": "Works", "declines": "Declines off-session charges", "requires_action": "Needs the payer"})

    def method(self, method_id: str) -> str:
        return self.methods.get(method_id, method_id)

    def line(self, line: OrderLine) -> str:
        """The label of a line of the order's breakdown."""
        plan = self.plans.get(line.plan or "", line.plan or "")
        return {LineKind.RECEIVES: self.receives.format(quantity=line.quantity),
                LineKind.DISCOUNT: self.discount,
                LineKind.PLAN: self.plan.format(plan=plan),
                LineKind.PLAN_CREDIT: self.plan_credit.format(plan=plan)}[line.kind]


EN = Texts(
    lang="en", title="Mock checkout – {order_id}", heading="Mock payment", pay_with="Pay with {method}",
    order="Order", total="Total", pay="Pay", decline="Decline", qr_alt="QR code of this page",
    pay_before="Pay before {time}", time_left="Time left", expired="This payment has expired.",
    state={"succeeded": "This order was paid (succeeded).", "failed": "This order was declined (failed).",
           "closed": "This order is closed."},
    paid="Payment succeeded.", declined="Payment declined.",
    not_this_form="This form did not come from this checkout page.", choose="Choose Pay or Decline.",
    closed="This order is closed and can no longer be paid.",
    methods={"wechat_pay": "WeChat Pay", "alipay": "Alipay", "credit_card": "Card", "mock": "Mock"},
    plans={"basic": "Basic", "pro": "Pro", "vip": "VIP"},
    receives="{quantity} receives", discount="Bulk discount", plan="{plan} plan, this period",
    plan_credit="Credit for the unused {plan} plan",
    card="Card (kept when the payment saves the method)",
    cards={"ok": "Works (4242)", "declines": "Declines off-session charges",
           "requires_action": "Needs the payer for off-session charges"},
)
ZH = Texts(
    lang="zh-CN", title="模拟收银台 – {order_id}", heading="模拟支付", pay_with="使用{method}支付",
    order="订单", total="合计", pay="支付", decline="拒绝", qr_alt="本页面的二维码",
    pay_before="请在 {time} 前支付", time_left="剩余时间", expired="此支付已过期。",
    state={"succeeded": "此订单已支付。", "failed": "此订单已被拒绝。", "closed": "此订单已关闭。"},
    paid="支付成功。", declined="已拒绝支付。",
    not_this_form="此表单并非来自本收银台页面。", choose="请选择支付或拒绝。",
    closed="此订单已关闭，无法再支付。",
    methods={"wechat_pay": "微信支付", "alipay": "支付宝", "credit_card": "银行卡", "mock": "模拟支付"},
    plans={"basic": "基础版", "pro": "专业版", "vip": "VIP 会员"},
    receives="{quantity} 次收信", discount="批量折扣", plan="{plan}（本周期）", plan_credit="{plan}未使用部分抵扣",
    card="银行卡（支付保存支付方式时留存）",
    cards={"ok": "正常（4242）", "declines": "免密扣款被拒", "requires_action": "免密扣款需付款人验证"},
)


def texts(accept_language: str | None) -> Texts:
    return ZH if language(accept_language) == CHINESE else EN
