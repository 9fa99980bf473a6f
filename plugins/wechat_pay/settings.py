"""The WeChat Pay plugin's settings (`PAYMENTS_WECHAT_PAY_*`, see the contract's "Real provider
plugins"), read and checked once at start-up. A missing or malformed one raises `SettingError`
(a `ValueError`) whose one line names the variable and never echoes its value."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import attrs

from plugins.settings import SettingError, optional, required, rsa_private_key, rsa_public_key

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

PREFIX = "PAYMENTS_WECHAT_PAY_"
MCHID = PREFIX + "MCHID"
APPID = PREFIX + "APPID"
PRIVATE_KEY = PREFIX + "PRIVATE_KEY"
CERT_SERIAL = PREFIX + "CERT_SERIAL"
API_V3_KEY = PREFIX + "API_V3_KEY"
PUBLIC_KEY = PREFIX + "PUBLIC_KEY"
PUBLIC_KEY_ID = PREFIX + "PUBLIC_KEY_ID"
API_BASE = PREFIX + "API_BASE"
DEFAULT_API_BASE = "https://api.mch.weixin.qq.com"
PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"

_MCHID = re.compile(r"[0-9]{1,32}")
_APPID = re.compile(r"[A-Za-z0-9_]{1,32}")
_SERIAL = re.compile(r"[0-9A-Fa-f]{1,64}")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")  # a local forwarding proxy, or a fake in tests
_PUBLIC_KEY_ID = re.compile(PUBLIC_KEY_ID_PREFIX + r"[0-9A-Za-z_]{1,64}")


@attrs.frozen
class WeChatPaySettings:
    """Everything the plugin needs to call WeChat Pay and to verify what it answers.

    `public_key`/`public_key_id` set: WeChat Pay public-key mode. Unset: platform-certificate mode
    (certificates downloaded from `/v3/certificates` and decrypted with `api_v3_key`)."""

    mchid: str
    appid: str
    private_key: RSAPrivateKey = attrs.field(repr=False)
    cert_serial: str
    api_v3_key: bytes = attrs.field(repr=False)
    public_key: RSAPublicKey | None = attrs.field(repr=False, default=None)
    public_key_id: str | None = None
    api_base: str = DEFAULT_API_BASE

    @property
    def public_key_mode(self) -> bool:
        return self.public_key is not None

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str], *, production: bool = False) -> WeChatPaySettings:
        mchid = _matching(settings, MCHID, _MCHID, "digits (the merchant number, 商户号)")
        appid = _matching(settings, APPID, _APPID, "letters and digits (the AppID bound to the merchant)")
        cert_serial = _matching(settings, CERT_SERIAL, _SERIAL, "the hex serial of the merchant API certificate")
        api_v3_key = required(settings, API_V3_KEY).encode()
        if len(api_v3_key) != 32:
            raise SettingError(f"{API_V3_KEY} must be exactly 32 bytes (the APIv3 key set in the merchant platform)")
        private_key = rsa_private_key(settings, PRIVATE_KEY)
        public_key, public_key_id = _public_key(settings)
        api_base = _api_base(settings, production)
        return cls(mchid=mchid, appid=appid, private_key=private_key, cert_serial=cert_serial,
                   api_v3_key=api_v3_key, public_key=public_key, public_key_id=public_key_id, api_base=api_base)


def _matching(settings: Mapping[str, str], name: str, pattern: re.Pattern[str], what: str) -> str:
    value = required(settings, name)
    if not pattern.fullmatch(value):
        raise SettingError(f"{name} is malformed: expected {what}")
    return value


def _public_key(settings: Mapping[str, str]) -> tuple[RSAPublicKey | None, str | None]:
    key_id = optional(settings, PUBLIC_KEY_ID)
    has_key = optional(settings, PUBLIC_KEY) is not None
    if key_id is None and not has_key:
        return None, None  # platform-certificate mode
    if key_id is None:
        raise SettingError(f"{PUBLIC_KEY_ID} is not set (it goes with {PUBLIC_KEY})")
    if not has_key:
        raise SettingError(f"{PUBLIC_KEY} is not set (it goes with {PUBLIC_KEY_ID})")
    if not _PUBLIC_KEY_ID.fullmatch(key_id):
        raise SettingError(f"{PUBLIC_KEY_ID} is malformed: expected {PUBLIC_KEY_ID_PREFIX}…")
    return rsa_public_key(settings, PUBLIC_KEY), key_id


def _api_base(settings: Mapping[str, str], production: bool) -> str:
    value = (optional(settings, API_BASE) or DEFAULT_API_BASE).rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise SettingError(f"{API_BASE} is malformed: expected an absolute http(s) URL without query")
    if production and parts.scheme != "https" and parts.hostname not in _LOOPBACK:
        raise SettingError(f"{API_BASE} must be an https URL in production (plain http only to this machine)")
    return value
