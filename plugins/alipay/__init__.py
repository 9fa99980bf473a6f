"""The Alipay provider plugin (entry point `alipay`): Alipay open platform, RSA2 (public-key mode).

`alipay.trade.precreate` QR codes, `alipay.trade.page.pay` / `alipay.trade.wap.pay` redirects,
query, close, refunds and their queries, and Alipay's asynchronous notifications
(`../shared/providers/PROTOCOLS.md` §3). Modules, each with one role:

- `settings`: the `PAYMENTS_ALIPAY_*` variables, checked once at start-up.
- `wire`: yuan strings and Beijing times at the wire (integer arithmetic, no floats).
- `signing`: the RSA2 signature over the sorted `key=value` string.
- `gateway`: the signed gateway calls (and signed page URLs) and their verified answers.
- `notifications`: verifying and translating Alipay's form-encoded notifications.
- `provider`: the payment provider port on top of them.

Certificate mode (`app_cert_sn` / `alipay_root_cert_sn`) is not supported yet (docs/providers/alipay.md).
"""
from plugins.alipay.provider import AlipayProvider, from_settings

__all__ = ["AlipayProvider", "from_settings"]
