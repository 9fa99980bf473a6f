"""Loading plugins (`plugins.discover`): each factory gets only its own settings plus the public URL,
newer keyword arguments only when it declares them, and a plugin that needs a newer provider port
stops start-up with one line. The entry points are stand-ins here (`recorded` below)."""
from __future__ import annotations

import pytest

import plugins
from adapters.clock import SystemClock
from ports.payment_provider import PORT_VERSION

ENVIRON = {
    "PAYMENTS_JWT_SECRET": "jwt-secret", "PAYMENTS_DATABASE_URL": "postgresql://u:p@db/payments",
    "PAYMENTS_PUBLIC_URL": "https://payments.example.test", "PAYMENTS_METHOD_ROUTES": "wechat_pay=wechat",
    "PAYMENTS_MOCK_WEBHOOK_SECRET": "mock-secret", "PAYMENTS_WECHAT_MCHID": "1900000109",
    "PAYMENTS_WECHAT_PAY_API_V3_KEY": "another-plugins-key", "PAYMENTS_WECHATTY_X": "not wechat's either",
    "HOME": "/root",
}
received: dict[str, dict] = {}


class Provider:
    def __init__(self, name: str, **given) -> None:
        self.name = name
        received[name] = given


def plain(settings, *, http, clock):  # a factory written against port 1.0
    return Provider("plain", settings=dict(settings))


def wechat(settings, *, http, clock):
    return Provider("wechat", settings=dict(settings))


def wechat_pay(settings, *, http, clock):
    return Provider("wechat_pay", settings=dict(settings))


def told_the_environment(settings, *, http, clock, production: bool = False):
    return Provider("told_the_environment", production=production)


def takes_anything(settings, *, http, clock, **extra):
    return Provider("takes_anything", **extra)


def needs(version):
    def factory(settings, *, http, clock):
        return Provider("needs")
    factory.requires_port = version
    return factory


class DeclaresOnItsClass:
    requires_port = (PORT_VERSION[0], PORT_VERSION[1] + 1)

    @classmethod
    def from_settings(cls, settings, *, http, clock):
        return cls()


class DeclaresOnTheInstance:
    def __init__(self) -> None:
        self.requires_port = (PORT_VERSION[0] + 1, 0)


def broken(settings, *, http, clock):
    raise ValueError("PAYMENTS_BROKEN_KEY is not\nset")


FACTORIES = {"plain": plain, "wechat": wechat, "wechat_pay": wechat_pay, "told_the_environment": told_the_environment,
             "takes_anything": takes_anything, "broken": broken,
             "declares_on_its_class": DeclaresOnItsClass.from_settings,
             "declares_on_the_instance": lambda settings, *, http, clock: DeclaresOnTheInstance()}


@pytest.fixture(autouse=True)
def recorded(monkeypatch):
    """The stand-in plugins above (`FACTORIES`), installed as entry points of group payments.providers."""
    def entry_points(group):
        return [_Installed(name) for name in FACTORIES] if group == plugins.GROUP else []

    monkeypatch.setattr(plugins, "entry_points", entry_points)
    received.clear()


class _Installed:
    """What `importlib.metadata.EntryPoint` offers discovery: a name, a value and `load()`."""

    def __init__(self, name: str) -> None:
        self.name, self.value = name, f"{__name__}:FACTORIES[{name!r}]"

    def load(self):
        return FACTORIES[self.name]


def discover(*names: str, production: bool = False, environ=ENVIRON):
    return plugins.discover(names, environ, http=object(), clock=SystemClock(), production=production)


# ---------------------------------------------------------------------- settings
def test_a_plugin_gets_its_own_settings_and_the_public_url_never_the_services_secrets():
    discover("wechat", "wechat_pay")

    assert received["wechat"]["settings"] == {"PAYMENTS_WECHAT_MCHID": "1900000109",
                                              "PAYMENTS_PUBLIC_URL": "https://payments.example.test"}
    assert received["wechat_pay"]["settings"] == {"PAYMENTS_WECHAT_PAY_API_V3_KEY": "another-plugins-key",
                                                  "PAYMENTS_PUBLIC_URL": "https://payments.example.test"}


def test_a_plugin_with_no_settings_of_its_own_gets_only_the_public_url():
    discover("plain")

    assert received["plain"]["settings"] == {"PAYMENTS_PUBLIC_URL": "https://payments.example.test"}


@pytest.mark.parametrize("name", ["jwt", "database", "method", "mock"])
def test_the_settings_of_a_plugin_are_exactly_its_prefix(name):
    got = plugins.plugin_settings(name, ENVIRON, others=[name, "wechat", "wechat_pay"])

    assert set(got) - {"PAYMENTS_PUBLIC_URL"} == {k for k in ENVIRON if k.startswith(f"PAYMENTS_{name.upper()}_")}


# ---------------------------------------------------------------------- keyword arguments newer than port 1.0
def test_a_factory_written_against_port_1_0_is_not_given_newer_keyword_arguments():
    assert received == {} and discover("plain", production=True)["plain"].name == "plain"


def test_a_factory_that_declares_production_is_told_whether_the_service_runs_in_production():
    discover("told_the_environment", "takes_anything", production=True)

    assert received["told_the_environment"] == {"production": True}
    assert received["takes_anything"] == {"production": True}


# ---------------------------------------------------------------------- port versions
@pytest.mark.parametrize("version", [(1, 0), PORT_VERSION])
def test_a_plugin_that_needs_this_port_or_an_older_minor_loads(version):
    FACTORIES["needs"] = needs(version)
    try:
        assert discover("needs")["needs"].name == "needs"
    finally:
        del FACTORIES["needs"]


@pytest.mark.parametrize("name", ["declares_on_its_class", "declares_on_the_instance"])
def test_a_plugin_that_needs_a_newer_port_stops_start_up_with_one_line(name):
    with pytest.raises(plugins.PluginLoadError) as refused:
        discover(name)

    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"payment provider {name!r} requires provider port ")
    assert f"but this service has {PORT_VERSION[0]}.{PORT_VERSION[1]}" in message


def test_a_malformed_port_version_stops_start_up_with_its_reason():
    FACTORIES["needs"] = needs("1.1")
    try:
        with pytest.raises(plugins.PluginLoadError, match=r"'needs' failed to load: requires_port must be a \(major, minor\)"):
            discover("needs")
    finally:
        del FACTORIES["needs"]


def test_a_factory_that_fails_stops_start_up_with_its_reason_on_one_line():
    with pytest.raises(plugins.PluginLoadError) as refused:
        discover("broken")

    assert str(refused.value) == "payment provider 'broken' failed to load: PAYMENTS_BROKEN_KEY is not set"


def test_a_plugin_that_is_not_installed_is_named_with_those_that_are():
    with pytest.raises(plugins.PluginLoadError, match=r"'stripe' is not installed \(installed: broken, "):
        discover("stripe")


# ---------------------------------------------------------------------- through the composition root
def test_the_service_hands_each_plugin_its_own_settings_the_effective_public_url_and_the_environment():
    from entrypoints.config import load_config
    from entrypoints.container import load_providers

    environ = {k: v for k, v in ENVIRON.items() if k != "PAYMENTS_PUBLIC_URL"}
    config = load_config({**environ, "PAYMENTS_ENV": "production", "PAYMENTS_JWT_SECRET": "x" * 40,
                          "PAYMENTS_METHOD_ROUTES": "wechat_pay=wechat,alipay=told_the_environment"},
                         host="0.0.0.0", port=9999)

    load_providers(config, http=object(), clock=SystemClock())

    assert received["wechat"]["settings"] == {"PAYMENTS_WECHAT_MCHID": "1900000109",
                                              "PAYMENTS_PUBLIC_URL": "http://0.0.0.0:9999"}
    assert received["told_the_environment"] == {"production": True}
