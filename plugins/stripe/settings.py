"""The Stripe plugin's settings (`PAYMENTS_STRIPE_*`, see the contract's "Real provider plugins"):
the secret API key, the webhook endpoint secrets (several during a rotation) and the API base.
Errors are `SettingError`s naming the variable, never echoing its value."""
from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs

from plugins.settings import SettingError, optional, required

SECRET_KEY = "PAYMENTS_STRIPE_SECRET_KEY"
WEBHOOK_SECRETS = "PAYMENTS_STRIPE_WEBHOOK_SECRETS"
API_BASE = "PAYMENTS_STRIPE_API_BASE"
PUBLIC_URL = "PAYMENTS_PUBLIC_URL"
DEFAULT_API_BASE = "https://api.stripe.com"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"

_KEY_PREFIXES = ("sk_live_", "sk_test_", "rk_live_", "rk_test_")  # secret or restricted keys


@attrs.frozen(repr=False)
class StripeSettings:
    secret_key: str
    webhook_secrets: tuple[str, ...]
    api_base: str = DEFAULT_API_BASE
    public_url: str = DEFAULT_PUBLIC_URL

    def __repr__(self) -> str:  # never the secrets, even in a traceback
        return f"StripeSettings(api_base={self.api_base!r}, webhook_secrets={len(self.webhook_secrets)})"

    @property
    def test_mode(self) -> bool:
        return self.secret_key.startswith(("sk_test_", "rk_test_"))


def read_settings(settings: Mapping[str, str], *, production: bool = False) -> StripeSettings:
    """The plugin's settings, checked; raises `SettingError` (a one-line `ValueError`)."""
    secret_key = required(settings, SECRET_KEY)
    if not (secret_key.startswith(_KEY_PREFIXES) and secret_key.isascii() and secret_key.isprintable()
            and not any(c.isspace() for c in secret_key)):
        raise SettingError(f"{SECRET_KEY} is not a Stripe secret key (sk_live_… or sk_test_…)")
    if production and secret_key.startswith(("sk_test_", "rk_test_")):
        raise SettingError(f"{SECRET_KEY} is a test-mode key (sk_test_…), refused with PAYMENTS_ENV=production")
    secrets = tuple(part.strip() for part in required(settings, WEBHOOK_SECRETS).split(",") if part.strip())
    if not secrets or any(not s.startswith("whsec_") or any(c.isspace() for c in s) for s in secrets):
        raise SettingError(f"{WEBHOOK_SECRETS} must be comma-separated webhook signing secrets (whsec_…)")
    api_base = (optional(settings, API_BASE, DEFAULT_API_BASE) or DEFAULT_API_BASE).rstrip("/")
    parts = urlsplit(api_base)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise SettingError(f"{API_BASE} must be an http(s) base URL such as {DEFAULT_API_BASE}")
    if production and parts.scheme != "https":
        raise SettingError(f"{API_BASE} must be https with PAYMENTS_ENV=production")
    public_url = (optional(settings, PUBLIC_URL, DEFAULT_PUBLIC_URL) or DEFAULT_PUBLIC_URL).rstrip("/")
    return StripeSettings(secret_key, secrets, api_base, public_url)
