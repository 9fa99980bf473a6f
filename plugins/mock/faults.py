"""Fault drills for the mock provider: make its "remote" fail the way real ones do.

Configured with `PAYMENTS_MOCK_FAULTS`, a comma-separated list of `operation=kind:rate`, e.g.
`open_payment=timeout:0.3,query_payment=unavailable:0.2,refund=error:0.1`, where `operation` is
one of open_payment, query_payment, close_payment, refund, charge_saved_method (off-session
charges of saved methods) and `kind` is

- `unavailable`: the remote answers 5xx at once (outcome unknown: `ProviderUnavailableError`);
- `timeout`: the remote does the work, but its answer never arrives: after `PAYMENTS_MOCK_TIMEOUT_SECONDS`
  (default 1) the call raises `ProviderUnavailableError` (the order or refund exists nonetheless);
- `error`: the remote refuses (`ProviderError`).

and `rate` the share of calls that fail (0-1). `PAYMENTS_MOCK_LOSE_NOTIFICATIONS` is `true` or a
rate: the share of notifications (payments' and refunds') never sent.

Refunds that fail *later*: `refund_outcome=failed:rate` in the same list makes that share of refunds
be accepted (`pending`) and then settle `failed` with the reason `insufficient_merchant_balance`
(as a WeChat refund ends ABNORMAL or a Stripe refund `failed` after it was accepted), told by the
refund notification and by `query_refund`. Each attempt draws anew: an admin's retry (same refund id)
succeeds once the drill is lifted.

`PAYMENTS_MOCK_REFUND_DELAY_SECONDS` (default 0, at most 3600) is how long the mock's remote takes to
settle a refund. 0: a refund that succeeds settles while it is asked for, and `refund` answers
`succeeded` at once (as Stripe's card refunds usually do); above 0 every refund answers `pending`
and settles that much later (see `plugins.mock.provider`).
"""
from __future__ import annotations

import random
from collections.abc import Mapping

import attrs

OPERATIONS = ("open_payment", "query_payment", "close_payment", "refund", "charge_saved_method")
KINDS = ("unavailable", "timeout", "error")
REFUND_OUTCOME = "refund_outcome"  # the drill of refunds failing after they were accepted
REFUND_FAILURE_REASON = "insufficient_merchant_balance"


@attrs.frozen
class Fault:
    kind: str
    rate: float  # a probability, not money


@attrs.define
class FaultPlan:
    faults: dict[str, Fault] = attrs.field(factory=dict)
    timeout_seconds: float = 1.0
    lose_notifications: float = 0.0
    refund_delay_seconds: float = 0.0  # how long a refund stays pending at the mock's remote
    _random: random.Random = attrs.field(factory=random.Random)

    def draw(self, operation: str) -> str | None:
        """The kind of fault this call of `operation` suffers, if any."""
        fault = self.faults.get(operation)
        if fault is not None and self._random.random() < fault.rate:
            return fault.kind
        return None

    def refund_fails(self) -> bool:
        """Whether this refund attempt is to settle `failed` (the `refund_outcome` drill)."""
        return self.draw(REFUND_OUTCOME) == "failed"

    def lose_notification(self) -> bool:
        return self.lose_notifications > 0 and self._random.random() < self.lose_notifications

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> FaultPlan:
        faults = {}
        for item in filter(None, (part.strip() for part in settings.get("PAYMENTS_MOCK_FAULTS", "").split(","))):
            operation, _, spec = item.partition("=")
            kind, _, rate = spec.partition(":")
            if not ((operation in OPERATIONS and kind in KINDS) or (operation == REFUND_OUTCOME and kind == "failed")):
                raise ValueError(f"PAYMENTS_MOCK_FAULTS: {item!r} is not operation=kind:rate "
                                 f"(operations {', '.join(OPERATIONS)}; kinds {', '.join(KINDS)}; "
                                 f"or {REFUND_OUTCOME}=failed:rate)")
            faults[operation] = Fault(kind, _rate("PAYMENTS_MOCK_FAULTS", rate or "1"))
        lose = settings.get("PAYMENTS_MOCK_LOSE_NOTIFICATIONS", "").strip().lower()
        return cls(faults=faults, timeout_seconds=_rate("PAYMENTS_MOCK_TIMEOUT_SECONDS",
                                                        settings.get("PAYMENTS_MOCK_TIMEOUT_SECONDS", "1"), 60),
                   refund_delay_seconds=_rate("PAYMENTS_MOCK_REFUND_DELAY_SECONDS",
                                              settings.get("PAYMENTS_MOCK_REFUND_DELAY_SECONDS", "0") or "0", 3600),
                   lose_notifications=1.0 if lose == "true" else (0.0 if lose in ("", "false") else
                                                                 _rate("PAYMENTS_MOCK_LOSE_NOTIFICATIONS", lose)))


def _rate(name: str, text: str, high: float = 1.0) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a number") from None
    if not 0 <= value <= high:
        raise ValueError(f"{name}: {value} is not between 0 and {high}")
    return value
