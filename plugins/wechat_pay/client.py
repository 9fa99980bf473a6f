"""The WeChat Pay API v3 client: every call signed over the exact bytes sent, every answer's
signature verified before it is believed, and every failure mapped to the port's errors.

- Transport failures (refused connection, timeout) and HTTP 429, 5xx and 202 (accepted, not
  done) raise `ProviderUnavailableError`: the outcome is unknown, query before acting again.
  Error codes that mean the same whatever the status (`SYSTEM_ERROR`, `FREQUENCY_LIMITED`, …)
  too.
- Other 4xx raise `WeChatPayError` (a `ProviderError`) carrying WeChat's `code`, which the
  provider maps further (`ORDER_NOT_EXIST`, `ORDER_CLOSED`, `ORDERPAID`, …).
- A 2xx whose signature is missing, wrong, stale or by a key we do not hold, is forged as far as
  we can tell: `ProviderUnavailableError` (the real outcome is unknown). An error answer that
  carries a signature must verify too; an unsigned one is taken for its code only.
Nothing from httpx escapes."""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from domain.errors import ProviderError, ProviderUnavailableError
from plugins.wechat_pay.crypto import SCHEME, authorization, new_nonce, signature_is_valid
from plugins.wechat_pay.keys import CERTIFICATES_PATH, CertificateError, KeyRing
from plugins.wechat_pay.settings import WeChatPaySettings
from ports.clock import Clock
from ports.payment_provider import FRESHNESS_SECONDS

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("payments.wechat_pay")

USER_AGENT = "membership-payments-wechat-pay/1.0"
_UNAVAILABLE_CODES = frozenset({"SYSTEM_ERROR", "SYSTEMERROR", "SERVICE_UNAVAILABLE", "FREQUENCY_LIMITED",
                                "RATELIMIT_EXCEEDED", "RATE_LIMITED", "BANKERROR"})


class WeChatPayError(ProviderError):
    """WeChat Pay refused the call (a 4xx): `status`, and WeChat's `wechat_code` (`PARAM_ERROR`, …)."""

    def __init__(self, status: int, wechat_code: str, message: str) -> None:
        super().__init__(f"WeChat Pay answered HTTP {status} {wechat_code}: {message}")
        self.status = status
        self.wechat_code = wechat_code


class WeChatPayClient:
    def __init__(self, settings: WeChatPaySettings, http: httpx.AsyncClient, clock: Clock, keys: KeyRing) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock
        self._keys = keys

    async def get(self, path: str) -> dict[str, Any] | None:
        return await self.call("GET", path)

    async def post(self, path: str, document: Mapping[str, Any]) -> dict[str, Any] | None:
        return await self.call("POST", path, document)

    async def call(self, method: str, path: str, document: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """Send a signed request; the verified JSON answer (None for 204). Raises as above."""
        status, headers, body = await self._send(method, path, document)
        if status == 202 or status == 429 or status >= 500:
            raise ProviderUnavailableError(f"WeChat Pay answered HTTP {status} to {method} {_without_query(path)}"
                                           f"{_code_suffix(body)}")
        if 200 <= status < 300:
            await self._verify(headers, body, what=f"{method} {_without_query(path)}")
            return _json_object(body, what=f"{method} {_without_query(path)}") if body else None
        if _is_signed(headers):
            await self._verify(headers, body, what=f"the HTTP {status} of {method} {_without_query(path)}")
        code, message = _error(body)
        if code in _UNAVAILABLE_CODES:
            raise ProviderUnavailableError(f"WeChat Pay answered HTTP {status} {code}: {message}")
        raise WeChatPayError(status, code, message)

    async def download_certificates(self) -> tuple[int, dict[str, str], bytes]:
        """The raw answer of GET /v3/certificates (the key ring verifies it itself)."""
        return await self._send("GET", CERTIFICATES_PATH, None)

    async def ensure_key(self, serial: str) -> bool:
        """Whether we hold the key `serial` names, downloading certificates if it may be a new one.
        Never raises: a download that fails leaves the serial unknown."""
        try:
            return await self._keys.ensure(serial, self.download_certificates)
        except (ProviderError, CertificateError) as error:
            log.warning("could not download WeChat Pay platform certificates: %s", error)
        return self._keys.key_for(serial) is not None

    async def _send(self, method: str, path: str, document: Mapping[str, Any] | None,
                    ) -> tuple[int, dict[str, str], bytes]:
        body = b"" if document is None else json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if document is not None:
            headers["Content-Type"] = "application/json"
        if self._settings.public_key_id is not None:
            headers["Wechatpay-Serial"] = self._settings.public_key_id
        import httpx  # the plugin's module imports stay light; the shared client has loaded it by now

        try:
            request = self._http.build_request(method, self._settings.api_base + path, content=body, headers=headers)
            request.headers["Authorization"] = authorization(
                mchid=self._settings.mchid, serial=self._settings.cert_serial, key=self._settings.private_key,
                method=method, raw_path=request.url.raw_path, body=body,
                timestamp=int(self._clock.now().timestamp()), nonce=new_nonce())
            response = await self._http.send(request)
            content = await response.aread()
        except httpx.HTTPError as error:
            raise ProviderUnavailableError(f"WeChat Pay {method} {_without_query(path)} failed: "
                                           f"{type(error).__name__}") from None
        log.info("WeChat Pay %s %s -> %s (Request-ID %s)", method, _without_query(path), response.status_code,
                 response.headers.get("Request-ID", "-"))
        return response.status_code, dict(response.headers), content

    async def _verify(self, headers: Mapping[str, str], body: bytes, *, what: str) -> None:
        lowered = {name.lower(): value for name, value in headers.items()}
        serial = lowered.get("wechatpay-serial", "")
        timestamp = lowered.get("wechatpay-timestamp", "")
        if not serial or not timestamp.isdigit() or not timestamp.isascii():
            raise ProviderUnavailableError(f"the answer to {what} is not signed by WeChat Pay")
        if abs(int(self._clock.now().timestamp()) - int(timestamp)) > FRESHNESS_SECONDS:
            raise ProviderUnavailableError(f"the answer to {what} is signed at a stale time")
        if lowered.get("wechatpay-signature-type", SCHEME) != SCHEME:
            raise ProviderUnavailableError(f"the answer to {what} has an unknown signature type")
        key = self._keys.key_for(serial)
        if key is None and await self.ensure_key(serial):
            key = self._keys.key_for(serial)
        if key is None or not signature_is_valid(key, timestamp=timestamp, nonce=lowered.get("wechatpay-nonce", ""),
                                                 body=body, signature=lowered.get("wechatpay-signature", "")):
            raise ProviderUnavailableError(f"the answer to {what} failed WeChat Pay signature verification")


def _is_signed(headers: Mapping[str, str]) -> bool:
    return any(name.lower() == "wechatpay-signature" for name in headers)


def _json_object(body: bytes, *, what: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        raise ProviderError(f"the answer to {what} is not JSON") from None
    if not isinstance(document, dict):
        raise ProviderError(f"the answer to {what} is not a JSON object")
    return document


def _error(body: bytes) -> tuple[str, str]:
    try:
        document = json.loads(body)
    except ValueError:
        return "UNKNOWN", "(no error body)"
    if not isinstance(document, dict):
        return "UNKNOWN", "(no error body)"
    return str(document.get("code") or "UNKNOWN"), str(document.get("message") or "")


def _code_suffix(body: bytes) -> str:
    code, message = _error(body)
    return "" if code == "UNKNOWN" else f" {code}: {message}"


def _without_query(path: str) -> str:
    return path.partition("?")[0]
