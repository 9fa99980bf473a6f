"""The payment methods, built from the loaded providers' declared capabilities and the routes:
a method no enabled provider serves is listed with `available: false`.

Status: `ok`; `degraded` while the serving provider's circuit is open (`available` false: a new
session would be refused at once) or half open (`available` true: one trial goes through);
`unavailable` when no enabled provider serves the method.

Icons: a provider's own `icon_url` for a method (its capability's), when it declares one, wins;
otherwise the service's own icon for that method (`icons`, absolute URLs the composition root
hands over: the icons the service ships and serves), whether or not the method is available.
"""
from __future__ import annotations

from collections.abc import Mapping

import attrs

from ports.circuit_breakers import CircuitBreakers, CircuitState
from ports.payment_provider import ProviderRegistry


@attrs.frozen
class PaymentMethodView:
    id: str
    name: str
    available: bool
    icon_url: str | None
    flows: tuple[str, ...]
    currencies: tuple[str, ...]
    status: str = "ok"  # ok | degraded | unavailable
    can_save: bool = False  # its provider keeps methods: `save_method` may be asked (docs/saved-methods.md)


@attrs.define
class ListPaymentMethods:
    _providers: ProviderRegistry
    _icons: Mapping[str, str] = attrs.field(factory=dict)  # method id → the service's icon URL
    _circuits: CircuitBreakers | None = None

    async def __call__(self) -> list[PaymentMethodView]:
        views = []
        for method, name, capability, capabilities in self._providers.method_listing():
            own_icon = capability.icon_url if capability else None
            circuit = (self._circuits.state(self._providers.for_method(method).name)
                       if capability is not None and self._circuits is not None else CircuitState.CLOSED)
            status = "unavailable" if capability is None else ("ok" if circuit is CircuitState.CLOSED else "degraded")
            views.append(PaymentMethodView(
                id=method, name=capability.name if capability else name,
                available=capability is not None and circuit is not CircuitState.OPEN, status=status,
                icon_url=own_icon or self._icons.get(method),
                flows=tuple(f.value for f in capability.flows) if capability else (),
                currencies=tuple(capabilities.currencies) if capabilities else (),
                can_save=bool(capabilities is not None and capabilities.can_save_methods
                              and getattr(capability, "can_save", True)),  # per method (port 1.6)
            ))
        return views
