"""The Stripe provider plugin (entry point `stripe`): Stripe Checkout Sessions for `credit_card`,
and for `wechat_pay` and `alipay` where a merchant routes them to Stripe (PROTOCOLS.md §4).

Modules: `settings` (`PAYMENTS_STRIPE_*`), `wire` (form encoding), `client` (calls to Stripe's API
and its errors in the port's terms), `signature` (`Stripe-Signature`), `events` (webhook events
and sessions in the port's terms) and `provider` (the port's calls). Raw httpx, not Stripe's SDK:
see docs/providers/stripe.md.
"""
from __future__ import annotations

from plugins.stripe.provider import CAPABILITIES, StripeProvider

__all__ = ["CAPABILITIES", "StripeProvider"]
