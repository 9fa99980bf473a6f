"""Which flow a payment session is opened with: the one the request asks for (`qr_code`, `redirect`,
`mobile_redirect`), if the method's provider offers it, else the method's first flow (the first of
its `flows` in `GET /methods`).

Checked before anything is stored: a flow outside the three, or one the provider does not offer
for the method, is a `validation_error` naming `flow`, and the request changes nothing.
"""
from __future__ import annotations

from domain.errors import DomainValidationError, PaymentMethodUnavailableError
from ports.payment_provider import Flow, PaymentProvider, ProviderRegistry

FLOWS = tuple(flow.value for flow in Flow)


def choose_flow(provider: PaymentProvider, method: str, requested: str | None) -> Flow:
    """The flow to open `method`'s session at `provider` with: `requested`, or the method's first
    flow when None. Raises `DomainValidationError` (field `flow`) for a flow it does not offer."""
    capability = provider.capabilities.method(method)
    offered = capability.flows if capability is not None else ()
    if requested is None:
        if not offered:
            raise DomainValidationError(f"The {method} method offers no payment flow.", field="flow")
        return offered[0]
    flow = flow_value(requested)
    if flow not in offered:
        raise DomainValidationError(
            f"The {method} method does not offer the {flow.value} flow here; it offers: "
            f"{', '.join(f.value for f in offered)}.", field="flow")
    return flow


def check_flow_if_served(providers: ProviderRegistry, method: str | None, requested: str | None) -> None:
    """Check a requested flow where no payment may follow (a downgrade, a cancelled scheduled
    change): against `method` when one is given and served, as a paid change would be."""
    if requested is None:
        return
    flow_value(requested)
    if method is not None and providers.is_known_method(method):
        try:
            provider = providers.for_method(method)
        except PaymentMethodUnavailableError:  # where no payment follows, an unserved method is not refused
            return
        choose_flow(provider, method, requested)


def flow_value(requested: str) -> Flow:
    """`requested` as a flow; `DomainValidationError` (field `flow`) when it is none of the three."""
    try:
        return Flow(requested)
    except ValueError:
        raise DomainValidationError(f"Must be one of: {', '.join(FLOWS)}.", field="flow") from None
