"""The WeChat Pay plugin: API v3, Native QR payments, both verification modes (the WeChat Pay
public key, or platform certificates downloaded and rotated), refunds. See `provider` and
docs/providers/wechat_pay.md."""
from plugins.wechat_pay.provider import CAPABILITIES, WeChatPayProvider

__all__ = ["CAPABILITIES", "WeChatPayProvider"]
