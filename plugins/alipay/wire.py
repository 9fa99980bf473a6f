"""Alipay's wire formats for money and time: amounts are yuan strings with at most two decimals
("12.34"), times are `yyyy-MM-dd HH:mm:ss` in Beijing time. Both converted with integer
arithmetic and fixed rules only; an amount finer than a fen or written any other way is refused."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from domain.money import CNY, Money

# China has kept UTC+8 without daylight saving since 1991: a fixed offset is Asia/Shanghai for
# every time this service writes or reads, without depending on a tz database being installed.
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_YUAN = re.compile(r"(0|[1-9][0-9]{0,15})(?:\.([0-9]{1,2}))?")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


class WireFormatError(ValueError):
    """A value on the wire is not written as Alipay writes it."""


def yuan(money: Money) -> str:
    """`Money` in CNY as Alipay's yuan string: 1700 fen → "17.00"."""
    if money.currency != CNY:
        raise WireFormatError(f"Alipay takes CNY only, not {money.currency.code}")
    if money.amount < 0:
        raise WireFormatError("a negative amount")
    return f"{money.amount // 100}.{money.amount % 100:02d}"


def fen(text: str) -> Money:
    """A yuan string read exactly as `Money` in CNY: "17.00" → 1700 fen. Refuses signs, exponents,
    spaces and anything finer than a fen ("0.001"), never rounding."""
    match = _YUAN.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise WireFormatError(f"{text!r} is not a yuan amount with at most two decimals")
    whole, decimals = match.group(1), match.group(2) or ""
    return Money(int(whole) * 100 + int(decimals.ljust(2, "0")), CNY)


def beijing_time(moment: datetime) -> str:
    """An aware datetime as Alipay writes times: "2026-03-01 20:00:00" for 12:00 UTC."""
    if moment.utcoffset() is None:
        raise WireFormatError("a naive datetime has no time zone to convert from")
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT)


def parse_beijing_time(text: str) -> datetime:
    """Alipay's `yyyy-MM-dd HH:mm:ss` (Beijing time) as an aware UTC datetime."""
    if not isinstance(text, str) or not _TIME.fullmatch(text):
        raise WireFormatError(f"{text!r} is not a yyyy-MM-dd HH:mm:ss time")
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=BEIJING).astimezone(timezone.utc)
    except ValueError:
        raise WireFormatError(f"{text!r} is not a valid time") from None
