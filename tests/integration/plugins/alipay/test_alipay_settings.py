"""The plugin's settings at start-up: what it needs, in the forms the Alipay console gives keys, and
one line naming the variable (never its value) for anything missing or wrong."""
from __future__ import annotations

import pytest

import plugins
from adapters.clock import SystemClock
from alipay_fake_gateway import TestKeys, pem_body, private_pem, public_pem
from plugins.alipay.settings import PRODUCTION_GATEWAY, SANDBOX_GATEWAY


def settings_with(**changes: str | None) -> dict[str, str]:
    """The test keys' settings with `changes` (None: the variable unset)."""
    return {key: value for key, value in {**TestKeys.generated().settings(), **changes}.items() if value is not None}


def load(**changes: str | None):
    settings = settings_with(**changes)
    return plugins.discover(["alipay"], settings, http=None, clock=SystemClock())["alipay"]


def load_error(production: bool = False, **changes: str | None) -> str:
    settings = settings_with(**changes)
    with pytest.raises(plugins.PluginLoadError) as failed:
        plugins.discover(["alipay"], settings, http=None, clock=SystemClock(), production=production)
    message = str(failed.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("PAYMENTS_ALIPAY_APP_ID", None, "PAYMENTS_ALIPAY_APP_ID is not set"),
    ("PAYMENTS_ALIPAY_APP_ID", "my-app", "PAYMENTS_ALIPAY_APP_ID must be the app's id"),
    ("PAYMENTS_ALIPAY_PRIVATE_KEY", None, "PAYMENTS_ALIPAY_PRIVATE_KEY is not set"),
    ("PAYMENTS_ALIPAY_PRIVATE_KEY", "not a key at all!", "PAYMENTS_ALIPAY_PRIVATE_KEY is neither PEM text"),
    ("PAYMENTS_ALIPAY_PUBLIC_KEY", None, "PAYMENTS_ALIPAY_PUBLIC_KEY is not set"),
    ("PAYMENTS_ALIPAY_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
     "PAYMENTS_ALIPAY_PUBLIC_KEY is not a PEM public key"),
    ("PAYMENTS_ALIPAY_SELLER_ID", "seller", "PAYMENTS_ALIPAY_SELLER_ID must be a seller id"),
    ("PAYMENTS_ALIPAY_GATEWAY", "openapi.alipay.com/gateway.do", "PAYMENTS_ALIPAY_GATEWAY must be an absolute"),
    ("PAYMENTS_ALIPAY_GATEWAY", "https://openapi.alipay.com:99999/gateway.do",
     "PAYMENTS_ALIPAY_GATEWAY is not a valid"),
])
def test_a_missing_or_malformed_setting_stops_start_up_with_one_line_naming_it(variable, value, says):
    message = load_error(**{variable: value})

    assert message.startswith("payment provider 'alipay' failed to load: ") and says in message
    if value and variable.endswith("_KEY"):
        assert value not in message  # never the value (keys are secrets)


def test_the_private_key_is_never_echoed_even_when_it_is_the_wrong_kind():
    key = private_pem(TestKeys.generated().app)

    message = load_error(PAYMENTS_ALIPAY_PUBLIC_KEY=key)

    assert "PAYMENTS_ALIPAY_PUBLIC_KEY" in message and pem_body(key)[:40] not in message


@pytest.mark.parametrize("form", ["pkcs8 pem", "pkcs1 pem", "bare base64", "escaped newlines", "file"])
def test_our_private_key_is_taken_in_every_form_the_console_and_env_files_give(form, tmp_path):
    key = TestKeys.generated().app
    pem = private_pem(key, pkcs1=form == "pkcs1 pem")
    value = {"pkcs8 pem": pem, "pkcs1 pem": pem, "bare base64": pem_body(pem),
             "escaped newlines": pem.replace("\n", "\\n"), "file": str(tmp_path / "app_private_key.pem")}[form]
    (tmp_path / "app_private_key.pem").write_text(pem)

    assert load(PAYMENTS_ALIPAY_PRIVATE_KEY=value).name == "alipay"


def test_alipays_public_key_is_taken_as_pem_too():
    assert load(PAYMENTS_ALIPAY_PUBLIC_KEY=public_pem(TestKeys.generated().alipay)).merchant_id


def test_the_gateway_defaults_to_production():
    provider = load(PAYMENTS_ALIPAY_GATEWAY=None)

    assert provider._settings.gateway == PRODUCTION_GATEWAY


@pytest.mark.parametrize(("gateway", "says"), [
    (SANDBOX_GATEWAY, "is Alipay's sandbox, refused in production"),
    ("https://openapi.alipaydev.com/gateway.do", "is Alipay's sandbox, refused in production"),
    ("http://openapi.alipay.com/gateway.do", "must be https in production")])
def test_production_refuses_the_sandbox_and_plain_http(gateway, says):
    message = load_error(production=True, PAYMENTS_ALIPAY_GATEWAY=gateway)

    assert f"PAYMENTS_ALIPAY_GATEWAY {says}" in message
    assert load(PAYMENTS_ALIPAY_GATEWAY=gateway).name == "alipay"  # outside production: fine


def test_production_takes_the_real_gateway():
    settings = {**TestKeys.generated().settings(), "PAYMENTS_ALIPAY_GATEWAY": PRODUCTION_GATEWAY}

    assert plugins.discover(["alipay"], settings, http=None, clock=SystemClock(), production=True)["alipay"]


def test_a_bare_base64_key_longer_than_a_file_name_is_read_as_a_key_and_never_echoed():
    # The console's bare base64 often has a run of 256+ characters without "/": no file could be
    # named so (ENAMETOOLONG), which must not stop start-up with the key in the message.
    body = "A" * 300
    message = load_error(PAYMENTS_ALIPAY_PUBLIC_KEY=body)

    assert "PAYMENTS_ALIPAY_PUBLIC_KEY is not a PEM public key" in message and body not in message
    key = TestKeys.generated().alipay
    slashless = pem_body(public_pem(key)).replace("/", "")  # not the key any more, but as long as one
    assert "File name too long" not in load_error(PAYMENTS_ALIPAY_PUBLIC_KEY=slashless)
