"""The keys that verify WeChat Pay's signatures, chosen by the `Wechatpay-Serial` they name.

- WeChat Pay public-key mode: one configured key, its serial `PUB_KEY_ID_…`.
- Platform certificates: downloaded from `GET /v3/certificates`, each decrypted with the APIv3
  key (AES-256-GCM), kept while valid, downloaded again when a response or notification names a
  serial we do not hold (rotation). A merchant moving from certificates to the public key is
  signed for a while with either, so a hex serial is looked up among certificates in both modes.

Downloads are rate-limited so that forged serials cannot make us hammer WeChat: a serial that was
looked for and not found is not looked for again for `MISS_SECONDS`, and at most `MAX_DOWNLOADS`
downloads happen in any `WINDOW_SECONDS`."""
from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from plugins.wechat_pay.crypto import AEAD_ALGORITHM, DecryptionError, decrypt, signature_is_valid
from plugins.wechat_pay.settings import PUBLIC_KEY_ID_PREFIX, WeChatPaySettings
from ports.clock import Clock

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

log = logging.getLogger("payments.wechat_pay")

CERTIFICATES_PATH = "/v3/certificates"
MISS_SECONDS = 60
WINDOW_SECONDS = 60
MAX_DOWNLOADS = 10
_HEX_SERIAL = re.compile(r"[0-9A-Fa-f]{1,64}")

# Answers the raw signed response of GET /v3/certificates: (status, headers, body).
Download = Callable[[], Awaitable[tuple[int, dict[str, str], bytes]]]


@attrs.frozen
class PlatformCertificate:
    serial: str  # upper-case hex
    key: RSAPublicKey
    effective: datetime
    expires: datetime

    def valid_at(self, moment: datetime) -> bool:
        return self.effective <= moment < self.expires


class CertificateError(ValueError):
    """A certificate download that cannot be trusted or read."""


class KeyRing:
    """See the module docstring. `key_for` is synchronous (notifications are parsed so);
    `ensure` is the async half that downloads certificates when a serial is unknown."""

    def __init__(self, settings: WeChatPaySettings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._certificates: dict[str, PlatformCertificate] = {}
        self._misses: dict[str, datetime] = {}
        self._downloads: list[datetime] = []
        self._lock = asyncio.Lock()

    def key_for(self, serial: str) -> RSAPublicKey | None:
        """The key that verifies signatures naming `serial`, or None when we hold none."""
        if self._settings.public_key is not None and serial == self._settings.public_key_id:
            return self._settings.public_key
        certificate = self._certificates.get(serial.upper()) if _HEX_SERIAL.fullmatch(serial) else None
        if certificate is None or not certificate.valid_at(self._clock.now()):
            return None
        return certificate.key

    def could_download(self, serial: str) -> bool:
        """Whether `serial` names a platform certificate we do not hold (and may look for now)."""
        if serial.startswith(PUBLIC_KEY_ID_PREFIX) or not _HEX_SERIAL.fullmatch(serial) or self.key_for(serial):
            return False
        missed = self._misses.get(serial.upper())
        return missed is None or self._clock.now() - missed >= timedelta(seconds=MISS_SECONDS)

    @property
    def serials(self) -> tuple[str, ...]:
        return tuple(sorted(self._certificates))

    async def ensure(self, serial: str, download: Download) -> bool:
        """Download the certificates if `serial` is one we may look for; whether we hold it after."""
        if not self.could_download(serial):
            return self.key_for(serial) is not None
        async with self._lock:  # concurrent notifications naming one new serial share a download
            if self.could_download(serial) and self._may_download():
                await self.refresh(download)
                if self.key_for(serial) is None:
                    self._misses[serial.upper()] = self._clock.now()
        return self.key_for(serial) is not None

    def _may_download(self) -> bool:
        now = self._clock.now()
        self._downloads = [at for at in self._downloads if now - at < timedelta(seconds=WINDOW_SECONDS)]
        self._misses = {serial: at for serial, at in self._misses.items() if now - at < timedelta(seconds=MISS_SECONDS)}
        if len(self._downloads) >= MAX_DOWNLOADS:
            log.warning("WeChat Pay certificate downloads are rate-limited; not downloading again now")
            return False
        self._downloads.append(now)
        return True

    async def refresh(self, download: Download) -> None:
        """Download, verify and decrypt the platform certificates; keep the valid ones (with those
        already held). Raises `CertificateError` (or what `download` raises)."""
        status, headers, body = await download()
        if status != 200:
            raise CertificateError(f"GET {CERTIFICATES_PATH} answered HTTP {status}")
        fresh = self._read(body)
        # The answer is signed by a certificate we hold or by one it brings: a certificate only
        # WeChat (holding our APIv3 key) can have encrypted.
        serial = _header(headers, "wechatpay-serial")
        known = {**self._certificates, **fresh}
        key = self.key_for(serial) or (known[serial.upper()].key if serial.upper() in known else None)
        if key is None or not signature_is_valid(key, timestamp=_header(headers, "wechatpay-timestamp"),
                                                 nonce=_header(headers, "wechatpay-nonce"), body=body,
                                                 signature=_header(headers, "wechatpay-signature")):
            raise CertificateError(f"the answer of GET {CERTIFICATES_PATH} is not signed by WeChat Pay")
        now = self._clock.now()
        self._certificates = {s: c for s, c in known.items() if c.valid_at(now) or c.effective > now}
        for held in fresh:
            self._misses.pop(held, None)
        log.info("WeChat Pay platform certificates held: %s", ", ".join(sorted(self._certificates)) or "none")

    def _read(self, body: bytes) -> dict[str, PlatformCertificate]:
        try:
            document = json.loads(body)
            items = document["data"]
            if not isinstance(items, list):
                raise TypeError("data is not a list")
            return {c.serial: c for c in (self._certificate(item) for item in items)}
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise CertificateError(f"unreadable answer of GET {CERTIFICATES_PATH}: {error}") from None

    def _certificate(self, item: dict[str, Any]) -> PlatformCertificate:
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

        sealed = item["encrypt_certificate"]
        if sealed.get("algorithm") != AEAD_ALGORITHM:
            raise ValueError(f"unknown algorithm {sealed.get('algorithm')!r}")
        try:
            pem = decrypt(self._settings.api_v3_key, nonce=sealed["nonce"],
                          associated_data=sealed.get("associated_data") or "", ciphertext=sealed["ciphertext"])
        except DecryptionError as error:
            raise ValueError(str(error)) from None
        certificate = x509.load_pem_x509_certificate(pem)
        named = str(item["serial_no"]).upper()
        if not _HEX_SERIAL.fullmatch(named) or int(named, 16) != certificate.serial_number:
            raise ValueError(f"serial_no {named!r} is not the certificate's own serial")
        key = certificate.public_key()
        if not isinstance(key, RSAPublicKey):
            raise ValueError("the certificate's key is not RSA")
        return PlatformCertificate(serial=named, key=key,
                                   effective=max(certificate.not_valid_before_utc, _when(item["effective_time"])),
                                   expires=min(certificate.not_valid_after_utc, _when(item["expire_time"])))


def _when(text: Any) -> datetime:
    """An RFC 3339 time with its offset (`effective_time`, `expire_time`)."""
    moment = datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        raise ValueError(f"time without offset: {text!r}")
    return moment


def _header(headers: dict[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name), "")
