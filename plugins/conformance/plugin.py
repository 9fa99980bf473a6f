"""Checks of the plugin as the service loads it: its entry point and factory, the port's calls,
the port version it declares, its capabilities (saved methods included) and the pages it serves."""
from __future__ import annotations

import inspect

from domain.catalog import PAYMENT_METHODS
from plugins.conformance.base import Checks
from plugins.conformance.harness import Harness
from ports.payment_provider import PORT_VERSION, Flow, can_save_method, port_supports, saves_methods


class PluginChecks(Checks):
    async def test_the_provider_is_installed_under_its_name_with_a_factory_taking_settings_http_and_clock(
            self, harness: Harness) -> None:
        from importlib.metadata import entry_points

        name = harness.provider.name
        assert isinstance(name, str) and name, f"provider.name must be its entry-point name, not {name!r}"
        installed = {ep.name: ep for ep in entry_points(group="payments.providers")}
        assert name in installed, (f"no entry point {name!r} in group payments.providers (installed: "
                                   f"{', '.join(sorted(installed)) or 'none'}); declare it and reinstall the plugin")
        factory = installed[name].load()
        assert callable(factory), f"entry point {name!r} does not name a callable factory"
        try:
            inspect.signature(factory).bind({}, http=None, clock=None)
        except TypeError as error:
            raise AssertionError(f"factory {installed[name].value} must accept (settings, *, http, clock): {error}")

    async def test_the_provider_has_every_call_of_the_port_async_where_it_does_io(self, harness: Harness) -> None:
        provider = harness.provider
        for name in ("open_payment", "query_payment", "close_payment", "refund", "query_refund"):
            assert inspect.iscoroutinefunction(getattr(provider, name, None)), f"{name} must be an async method"
        for name in ("parse_notification", "acknowledge"):
            method = getattr(provider, name, None)
            assert callable(method) and not inspect.iscoroutinefunction(method), f"{name} must be a plain method"
        assert provider.merchant_id is None or (isinstance(provider.merchant_id, str) and provider.merchant_id)

    async def test_a_declared_port_version_is_one_this_service_serves(self, harness: Harness) -> None:
        declared = getattr(harness.provider, "requires_port", None)
        if declared is None:
            return  # a plugin that declares nothing is taken as port 1.0
        assert isinstance(declared, tuple) and len(declared) == 2 and all(type(p) is int for p in declared), \
            f"requires_port must be a (major, minor) tuple of integers, not {declared!r}"
        assert port_supports(declared), f"requires_port={declared} but the kit's port is {PORT_VERSION}"

    async def test_capabilities_name_at_least_one_method_and_only_method_ids_the_service_knows(
            self, harness: Harness) -> None:
        methods = harness.provider.capabilities.methods
        assert methods, "a provider serves at least one payment method"
        ids = [m.id for m in methods]
        assert len(ids) == len(set(ids)), f"method ids repeat: {ids}"
        unknown = [i for i in ids if i not in PAYMENT_METHODS]
        assert not unknown, (f"methods {unknown} are not in domain.catalog.PAYMENT_METHODS "
                             f"({', '.join(PAYMENT_METHODS)}): routes could never reach them")
        assert all(isinstance(m.name, str) and m.name for m in methods), "every method has a display name"

    async def test_every_method_offers_at_least_one_flow_and_only_known_flows(self, harness: Harness) -> None:
        for method in harness.provider.capabilities.methods:
            assert method.flows, f"method {method.id} offers no flow"
            assert all(isinstance(f, Flow) for f in method.flows), f"method {method.id}: flows must be Flow values"
            assert len(set(method.flows)) == len(method.flows), f"method {method.id} repeats a flow"

    async def test_capabilities_name_at_least_one_currency_as_an_iso_4217_code(self, harness: Harness) -> None:
        currencies = harness.provider.capabilities.currencies
        assert currencies, "a provider takes at least one currency"
        for code in currencies:
            assert isinstance(code, str) and len(code) == 3 and code.isascii() and code.isupper(), \
                f"{code!r} is not an ISO 4217 code"

    async def test_partial_refunds_are_only_declared_together_with_refunds(self, harness: Harness) -> None:
        capabilities = harness.provider.capabilities
        assert capabilities.can_refund or not capabilities.can_refund_partially

    async def test_a_provider_that_saves_methods_has_the_saved_method_calls_and_saves_one_it_serves(
            self, harness: Harness) -> None:
        provider = harness.provider
        if not saves_methods(provider):
            return  # the usual case: the core never asks it to save
        for name in ("create_customer", "saved_method", "charge_saved_method", "detach_saved_method"):
            assert inspect.iscoroutinefunction(getattr(provider, name, None)), \
                f"can_save_methods=True: {name} must be an async method (port 1.6)"
        declared = getattr(provider, "requires_port", (1, 0))
        assert declared >= (1, 6), f"can_save_methods is port 1.6: declare requires_port = (1, 6), not {declared}"
        methods = [m.id for m in provider.capabilities.methods]
        assert any(can_save_method(provider, m) for m in methods), \
            f"can_save_methods=True, yet every method says can_save=False: {methods}"

    async def test_pages_the_plugin_serves_are_aiohttp_routes_on_absolute_paths_outside_the_api(
            self, harness: Harness) -> None:
        web_routes = getattr(harness.provider, "web_routes", None)
        if web_routes is None:
            return  # serving no pages is the usual case
        from aiohttp import web

        routes = list(web_routes())
        for route in routes:
            assert isinstance(route, web.RouteDef), f"web_routes() must give aiohttp RouteDefs, not {route!r}"
            assert route.path.startswith("/") and not route.path.startswith("/api/"), \
                f"{route.method} {route.path}: pages live on absolute paths outside /api/"
            assert inspect.iscoroutinefunction(route.handler), f"{route.method} {route.path}: handlers are async"
        app = web.Application()
        app.router.add_routes(routes)  # raises for a malformed path or a method registered twice
