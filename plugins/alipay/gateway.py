"""Alipay's gateway: signed calls and signed page URLs, and their verified answers.

Server-to-server calls (`alipay.trade.precreate`, `.query`, `.close`, `.refund`,
`.fastpay.refund.query`) are POSTed the way Alipay's official SDK posts them: the common
parameters (`app_id`, `method`, `format`, `charset`, `sign_type`, `timestamp` in Beijing time,
`version`, `notify_url`, `return_url`, `sign`) in the query string and `biz_content` (a JSON string,
serialised once) in an `application/x-www-form-urlencoded;charset=utf-8` body. The signature
covers every parameter but `sign`. Browser redirects (`alipay.trade.page.pay`, `.wap.pay`) are the
same signed parameters as one GET URL; no server call is made.

An answer `{"<method>_response": {...}, "sign": "..."}` is verified over the exact raw text of its
response node with Alipay's public key; a success (`code` 10000) that is not signed by Alipay is
refused. Failures map to the port's errors: `20000` and `ACQ.SYSTEM_ERROR` (and HTTP 5xx/429,
timeouts, refused connections) are `ProviderUnavailableError` (the outcome is unknown); anything
else is an `AlipayRefusal` (a `ProviderError`) carrying Alipay's `code` and `sub_code`. No httpx
exception escapes.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from domain.errors import ProviderError, ProviderUnavailableError
from plugins.alipay import signing
from plugins.alipay.settings import AlipaySettings
from plugins.alipay.wire import beijing_time
from ports.clock import Clock

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("payments.alipay")

SUCCESS = "10000"
UNAVAILABLE_CODES = frozenset({"20000"})  # isp.unknow-error: service unavailable, outcome unknown
UNAVAILABLE_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR", "isp.unknow-error",
                                   "isp.unknown-error"})
_FORM = "application/x-www-form-urlencoded;charset=utf-8"
_ERROR_NODE = "error_response"


class AlipayRefusal(ProviderError):
    """Alipay answered the call with a failure: `alipay_code` (40004, 40002, …) and `sub_code`
    (`ACQ.TRADE_NOT_EXIST`, `isv.invalid-signature`, …), as its answer says."""

    def __init__(self, method: str, alipay_code: str, sub_code: str | None, sub_msg: str | None) -> None:
        super().__init__(f"Alipay refused {method}: {alipay_code} {sub_code or ''} {sub_msg or ''}".strip())
        self.method = method
        self.alipay_code = alipay_code
        self.sub_code = sub_code


class Gateway:
    """Signed requests to one Alipay gateway for one app, through the service's shared client."""

    def __init__(self, settings: AlipaySettings, *, http: httpx.AsyncClient, clock: Clock) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock

    def signed_params(self, method: str, biz: Mapping[str, Any], **common: str | None) -> dict[str, str]:
        """Every parameter of a call to `method`, `sign` included: the common ones, `common`'s
        non-empty extras (`notify_url`, `return_url`) and `biz` serialised once as `biz_content`."""
        params = {
            "app_id": self._settings.app_id, "method": method, "format": "JSON", "charset": "utf-8",
            "sign_type": signing.SIGN_TYPE, "timestamp": beijing_time(self._clock.now()), "version": "1.0",
            **{key: value for key, value in common.items() if value},
            "biz_content": json.dumps(dict(biz), ensure_ascii=False, separators=(",", ":")),
        }
        params["sign"] = signing.sign(self._settings.private_key, signing.sign_content(params))
        return params

    def page_url(self, method: str, biz: Mapping[str, Any], **common: str | None) -> str:
        """The signed gateway URL a payer's browser is sent to (`alipay.trade.page.pay`/`.wap.pay`):
        the parameters sorted, then `sign`, each value `quote_plus`-encoded, as Alipay's SDKs write it."""
        params = self.signed_params(method, biz, **common)
        signature = params.pop("sign")
        return f"{self._settings.gateway}?{urlencode([*sorted(params.items()), ('sign', signature)])}"

    async def call(self, method: str, biz: Mapping[str, Any], **common: str | None) -> dict[str, Any]:
        """Call `method` and return its verified response node (`code` 10000); raises
        `AlipayRefusal`, `ProviderUnavailableError` or `ProviderError`."""
        params = self.signed_params(method, biz, **common)
        body = urlencode({"biz_content": params.pop("biz_content")}).encode("ascii")
        url = f"{self._settings.gateway}?{urlencode(params)}"
        import httpx  # the plugin's module imports stay light; the shared client has loaded it by now

        try:
            response = await self._http.post(url, content=body, headers={"Content-Type": _FORM,
                                                                          "Accept": "application/json"})
        except httpx.HTTPError as error:
            raise ProviderUnavailableError(f"Alipay {method}: {type(error).__name__}") from None
        except httpx.InvalidURL:
            raise ProviderError(f"Alipay {method}: the gateway URL is not usable") from None
        return self._answer(method, response)

    def _answer(self, method: str, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        if status >= 500 or status == 429:
            raise ProviderUnavailableError(f"Alipay {method}: HTTP {status}")
        if not 200 <= status < 300:
            raise ProviderError(f"Alipay {method}: HTTP {status}")
        try:
            text = response.content.decode("utf-8")
            document = json.loads(text)
        except ValueError:  # UnicodeDecodeError and JSONDecodeError both
            raise ProviderError(f"Alipay {method}: an unreadable answer") from None
        node_name = method.replace(".", "_") + "_response"
        if not isinstance(document, dict):
            raise ProviderError(f"Alipay {method}: an answer without {node_name}")
        name = node_name if node_name in document else _ERROR_NODE if _ERROR_NODE in document else None
        if name is None or not isinstance(document[name], dict):
            raise ProviderError(f"Alipay {method}: an answer without {node_name}")
        node: dict[str, Any] = document[name]
        code = node.get("code")
        if code == SUCCESS and name == node_name:
            signature = document.get("sign")
            raw = raw_node(text, name)
            if not (isinstance(signature, str) and raw is not None
                    and signing.verify(self._settings.alipay_public_key, raw, signature)):
                raise ProviderError(f"Alipay {method}: the answer is not signed by Alipay's key")
            return node
        # A failure refuses whether it is signed or not: it can never be taken for a success.
        sub_code = node.get("sub_code") if isinstance(node.get("sub_code"), str) else None
        log.info("Alipay %s answered %s %s", method, code, sub_code)
        if code in UNAVAILABLE_CODES or sub_code in UNAVAILABLE_SUB_CODES:
            raise ProviderUnavailableError(f"Alipay {method}: {code} {sub_code or ''}".strip())
        sub_msg = node.get("sub_msg") if isinstance(node.get("sub_msg"), str) else None
        raise AlipayRefusal(method, str(code), sub_code, sub_msg)


def raw_node(text: str, name: str) -> str | None:
    """The exact text of the value of the top-level key `name` in the JSON `text` (what Alipay
    signs), or None. A key's quotes inside a JSON string are escaped, so the first `"name":` found
    is the key itself."""
    found = re.search('"' + re.escape(name) + r'"\s*:\s*', text)
    if found is None:
        return None
    try:
        _, end = json.JSONDecoder().raw_decode(text, found.end())
    except ValueError:
        return None
    return text[found.end():end]
