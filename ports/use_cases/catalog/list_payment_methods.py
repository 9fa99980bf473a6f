"""The payment methods, built from the loaded providers' declared capabilities and the routes:
a method no enabled provider serves is listed with `available: false`."""
from __future__ import annotations

import attrs

from ports.payment_provider import ProviderRegistry


@attrs.frozen
class PaymentMethodView:
    id: str
    name: str
    available: bool
    icon_url: str | None
    flows: tuple[str, ...]
    currencies: tuple[str, ...]


@attrs.define
class ListPaymentMethods:
    _providers: ProviderRegistry

    async def __call__(self) -> list[PaymentMethodView]:
        views = []
        for method, name, capability, capabilities in self._providers.method_listing():
            views.append(PaymentMethodView(
                id=method, name=capability.name if capability else name, available=capability is not None,
                icon_url=capability.icon_url if capability else None,
                flows=tuple(f.value for f in capability.flows) if capability else (),
                currencies=tuple(capabilities.currencies) if capabilities else (),
            ))
        return views
