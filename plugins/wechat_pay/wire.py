"""WeChat Pay's wire values and the port's: integer fen, Beijing-time RFC 3339, texts WeChat
accepts (no 4-byte UTF-8), and `trade_state`/refund `status` mapped to the port's states."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from domain.errors import DomainValidationError, ProviderError
from domain.money import CNY, Currency, Money
from ports.payment_provider import PaymentState, PaymentStatus, RefundResult, RefundState

CURRENCY = "CNY"
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")  # no daylight saving since 1991
DESCRIPTION_LIMIT = 127
REASON_LIMIT = 80

TRADE_STATES = {
    "SUCCESS": PaymentState.SUCCEEDED,
    "REFUND": PaymentState.SUCCEEDED,  # paid, and a refund was started since
    "NOTPAY": PaymentState.PENDING,
    "USERPAYING": PaymentState.PENDING,
    "CLOSED": PaymentState.CLOSED,
    "REVOKED": PaymentState.CLOSED,
    "PAYERROR": PaymentState.FAILED,
}
REFUND_STATES = {
    "SUCCESS": RefundState.SUCCEEDED,
    "PROCESSING": RefundState.PENDING,
    "ABNORMAL": RefundState.FAILED,  # the money could not reach the payer: handled by hand in the merchant platform
    "CLOSED": RefundState.FAILED,
}

__all__ = ["BEIJING", "CNY", "CURRENCY", "beijing_time", "description", "fen", "payment_status",
           "refund_failure_reason", "refund_reason", "refund_result"]


def fen(money: Money) -> int:
    """WeChat's `amount.total`/`amount.refund`: integer fen of a CNY amount."""
    if money.currency != CNY:
        raise ProviderError(f"WeChat Pay Native takes CNY only, not {money.currency.code}")
    return money.amount


def beijing_time(moment: datetime) -> str:
    """RFC 3339 in +08:00 to the second, as `time_expire` is written: 2026-03-01T20:00:00+08:00."""
    return moment.astimezone(BEIJING).replace(microsecond=0).isoformat()


def _accepted_text(text: str, limit: int) -> str:
    """`text` without the characters WeChat refuses (4-byte UTF-8, controls), at most `limit` long."""
    kept = "".join(ch for ch in text if ord(ch) <= 0xFFFF and (ch.isprintable() or ch == " "))
    return " ".join(kept.split())[:limit]


def description(text: str) -> str:
    return _accepted_text(text, DESCRIPTION_LIMIT) or "Order"


def refund_reason(text: str) -> str:
    return _accepted_text(text, REASON_LIMIT)


def payment_status(order_id: str, answer: Mapping[str, Any], *, mchid: str) -> PaymentStatus:
    """The port's view of a queried transaction object."""
    if answer.get("out_trade_no") != order_id or answer.get("mchid", mchid) != mchid:
        raise ProviderError(f"WeChat Pay answered about another order than {order_id}")
    trade_state = answer.get("trade_state")
    state = TRADE_STATES.get(trade_state) if isinstance(trade_state, str) else None
    if state is None:
        raise ProviderError(f"WeChat Pay answered an unknown trade_state {trade_state!r} for {order_id}")
    amount = _amount(answer.get("amount"))
    if state is PaymentState.SUCCEEDED and amount is None:
        raise ProviderError(f"WeChat Pay answered a paid order {order_id} without a readable amount")
    payer = answer.get("payer")
    return PaymentStatus(
        order_id=order_id, state=state, amount=amount,
        provider_reference=_text(answer.get("transaction_id")),
        paid_at=_time(answer.get("success_time")) if state is PaymentState.SUCCEEDED else None,
        failure_reason=(_text(answer.get("trade_state_desc")) or trade_state) if state is PaymentState.FAILED else None,
        payer_id=_text(payer.get("openid")) if isinstance(payer, Mapping) else None)


def refund_result(refund_order_id: str, answer: Mapping[str, Any], *, out_trade_no: str) -> RefundResult:
    """The port's view of a refund object (the answer to a refund or a refund query)."""
    if answer.get("out_refund_no") != refund_order_id or answer.get("out_trade_no", out_trade_no) != out_trade_no:
        raise ProviderError(f"WeChat Pay answered about another refund than {refund_order_id}")
    status = answer.get("status")
    state = REFUND_STATES.get(status) if isinstance(status, str) else None
    if state is None:
        raise ProviderError(f"WeChat Pay answered an unknown refund status {status!r} for {refund_order_id}")
    return RefundResult(refund_order_id, state, _text(answer.get("refund_id")),
                        failure_reason=refund_failure_reason(status) if state is RefundState.FAILED else None)


def refund_failure_reason(status: str) -> str:
    """The port's reason of a refund WeChat ended ABNORMAL or CLOSED: the status in lower case
    (`abnormal`, `closed`). WeChat's refund object carries no finer reason than its status."""
    return status.lower()


def _amount(amount: Any) -> Money | None:
    if not isinstance(amount, Mapping):
        return None
    total, currency = amount.get("total"), amount.get("currency", CURRENCY)
    if type(total) is not int or total < 0 or not isinstance(currency, str):
        return None  # a float or a string is never read as an amount
    try:
        return Money(total, Currency.of(currency))
    except DomainValidationError:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(timezone.utc) if moment.tzinfo is not None else None
