"""The WeChat Pay plugin's settings: every missing or malformed PAYMENTS_WECHAT_PAY_* variable
stops `plugins.discover` (start-up) with one line naming it and never its value; keys are read as
PEM text, a PEM file or bare base64; the mode follows from the public key being set."""
from __future__ import annotations

import httpx
import pytest

import plugins
from adapters.clock import SystemClock
from plugins import PluginLoadError
from wechat_pay_fake import FakeWeChatPay
from wechat_pay_keys import cached_key, private_pem


def load(settings: dict[str, str], *, production: bool = False):
    return plugins.discover(["wechat_pay"], settings, http=httpx.AsyncClient(), clock=SystemClock(),
                            production=production)["wechat_pay"]


def refused(settings: dict[str, str], *, production: bool = False) -> str:
    with pytest.raises(PluginLoadError) as raised:
        load(settings, production=production)
    message = str(raised.value)
    assert "\n" not in message and message.startswith("payment provider 'wechat_pay' failed to load: ")
    return message


@pytest.fixture(scope="module")
def complete() -> dict[str, str]:
    return FakeWeChatPay(mode="public_key").settings(api_base="https://api.mch.weixin.qq.com")


@pytest.mark.parametrize("name", ["MCHID", "APPID", "PRIVATE_KEY", "CERT_SERIAL", "API_V3_KEY"])
def test_each_required_setting_missing_or_blank_stops_start_up_naming_it(complete, name):
    variable = f"PAYMENTS_WECHAT_PAY_{name}"
    for settings in ({k: v for k, v in complete.items() if k != variable}, {**complete, variable: "  "}):
        assert refused(settings).endswith(f"{variable} is not set")


@pytest.mark.parametrize(("name", "value"), [
    ("MCHID", "19000-00109"), ("APPID", "wx d678"), ("CERT_SERIAL", "not-hex-at-all"), ("API_V3_KEY", "too short"),
    ("API_V3_KEY", "x" * 33), ("PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
    ("PRIVATE_KEY", "/no/such/key.pem"), ("PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
    ("PUBLIC_KEY_ID", "0119000001092025"), ("API_BASE", "ftp://api.mch.weixin.qq.com"),
    ("API_BASE", "https://api.mch.weixin.qq.com/?x=1")])
def test_a_malformed_setting_stops_start_up_naming_it_without_its_value(complete, name, value):
    message = refused({**complete, f"PAYMENTS_WECHAT_PAY_{name}": value})

    assert f"PAYMENTS_WECHAT_PAY_{name}" in message
    assert value not in message


def test_a_public_key_without_its_id_or_an_id_without_its_key_stops_start_up(complete):
    without_id = {k: v for k, v in complete.items() if k != "PAYMENTS_WECHAT_PAY_PUBLIC_KEY_ID"}
    without_key = {k: v for k, v in complete.items() if k != "PAYMENTS_WECHAT_PAY_PUBLIC_KEY"}

    assert "PAYMENTS_WECHAT_PAY_PUBLIC_KEY_ID is not set" in refused(without_id)
    assert "PAYMENTS_WECHAT_PAY_PUBLIC_KEY is not set" in refused(without_key)


def test_a_small_rsa_key_is_refused(complete):
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    message = refused({**complete, "PAYMENTS_WECHAT_PAY_PRIVATE_KEY": private_pem(small)})

    assert "PAYMENTS_WECHAT_PAY_PRIVATE_KEY must be an RSA private key of at least 2048 bits" in message


def test_production_takes_an_https_api_base_or_plain_http_to_this_machine_only(complete):
    message = refused({**complete, "PAYMENTS_WECHAT_PAY_API_BASE": "http://wechat-proxy.internal:8080"},
                      production=True)

    assert "PAYMENTS_WECHAT_PAY_API_BASE must be an https URL in production" in message
    assert load(complete, production=True).merchant_id == complete["PAYMENTS_WECHAT_PAY_MCHID"]
    local = load({**complete, "PAYMENTS_WECHAT_PAY_API_BASE": "http://127.0.0.1:9"}, production=True)
    assert local._settings.api_base == "http://127.0.0.1:9"  # this machine: a forwarding proxy, a test's fake


def test_keys_may_be_pem_files_or_escaped_pem_text_and_the_mode_follows_the_public_key(complete, tmp_path):
    key_file = tmp_path / "apiclient_key.pem"
    key_file.write_text(private_pem(cached_key("merchant")))
    escaped = complete["PAYMENTS_WECHAT_PAY_PUBLIC_KEY"].replace("\n", "\\n")

    public_key_mode = load({**complete, "PAYMENTS_WECHAT_PAY_PRIVATE_KEY": str(key_file),
                            "PAYMENTS_WECHAT_PAY_PUBLIC_KEY": escaped})
    certificate_mode = load({k: v for k, v in complete.items() if "PUBLIC_KEY" not in k})

    assert public_key_mode._settings.public_key_mode and not certificate_mode._settings.public_key_mode
    assert certificate_mode._settings.api_base == "https://api.mch.weixin.qq.com"


def test_the_settings_repr_shows_no_secret(complete):
    shown = repr(load(complete)._settings)

    assert complete["PAYMENTS_WECHAT_PAY_API_V3_KEY"] not in shown and "PRIVATE" not in shown
