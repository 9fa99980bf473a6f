"""The plugin's settings, `PAYMENTS_ALIPAY_*`, read and checked once at start-up; each error is one
line naming the variable (never its value), which stops start-up.

- `PAYMENTS_ALIPAY_APP_ID`: the app's id (digits, from the Alipay open platform console).
- `PAYMENTS_ALIPAY_PRIVATE_KEY`: our app private key (RSA 2048): PEM text, a PEM file or the bare
  base64 the console's key tool writes.
- `PAYMENTS_ALIPAY_PUBLIC_KEY`: Alipay's public key (支付宝公钥), in the same forms.
- `PAYMENTS_ALIPAY_SELLER_ID`: optional, our seller id (2088…); a notification naming another is
  not ours.
- `PAYMENTS_ALIPAY_GATEWAY`: default `https://openapi.alipay.com/gateway.do`; the sandbox is
  `https://openapi-sandbox.dl.alipaydev.com/gateway.do`.

In production the gateway must be https and not the sandbox's (test credentials are refused there).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import attrs

from plugins.settings import SettingError, optional, required, rsa_private_key, rsa_public_key

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

PRODUCTION_GATEWAY = "https://openapi.alipay.com/gateway.do"
SANDBOX_GATEWAY = "https://openapi-sandbox.dl.alipaydev.com/gateway.do"
_SANDBOX_HOSTS = ("alipaydev.com",)  # the sandbox and its legacy host openapi.alipaydev.com

APP_ID = "PAYMENTS_ALIPAY_APP_ID"
PRIVATE_KEY = "PAYMENTS_ALIPAY_PRIVATE_KEY"
PUBLIC_KEY = "PAYMENTS_ALIPAY_PUBLIC_KEY"
SELLER_ID = "PAYMENTS_ALIPAY_SELLER_ID"
GATEWAY = "PAYMENTS_ALIPAY_GATEWAY"


@attrs.frozen
class AlipaySettings:
    app_id: str
    private_key: RSAPrivateKey = attrs.field(repr=False)
    alipay_public_key: RSAPublicKey = attrs.field(repr=False)
    gateway: str = PRODUCTION_GATEWAY
    seller_id: str | None = None

    @classmethod
    def read(cls, settings: Mapping[str, str], *, production: bool = False) -> AlipaySettings:
        app_id = required(settings, APP_ID)
        if not (app_id.isascii() and app_id.isdigit() and 8 <= len(app_id) <= 32):
            raise SettingError(f"{APP_ID} must be the app's id: digits, as the Alipay console shows it")
        seller_id = optional(settings, SELLER_ID)
        if seller_id is not None and not (seller_id.isascii() and seller_id.isdigit() and len(seller_id) <= 32):
            raise SettingError(f"{SELLER_ID} must be a seller id: digits (2088…)")
        return cls(app_id=app_id, private_key=rsa_private_key(settings, PRIVATE_KEY),
                   alipay_public_key=rsa_public_key(settings, PUBLIC_KEY),
                   gateway=_gateway(settings, production), seller_id=seller_id)


def _gateway(settings: Mapping[str, str], production: bool) -> str:
    url = optional(settings, GATEWAY, PRODUCTION_GATEWAY) or PRODUCTION_GATEWAY
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a malformed port
    except ValueError:
        raise SettingError(f"{GATEWAY} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment or parts.query:
        raise SettingError(f"{GATEWAY} must be an absolute http(s) URL without a query, "
                           f"such as {PRODUCTION_GATEWAY}")
    if production and parts.scheme != "https":
        raise SettingError(f"{GATEWAY} must be https in production")
    if production and any(parts.hostname == host or parts.hostname.endswith("." + host) for host in _SANDBOX_HOSTS):
        raise SettingError(f"{GATEWAY} is Alipay's sandbox, refused in production")
    return url
