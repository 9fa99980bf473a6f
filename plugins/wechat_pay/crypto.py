"""WeChat Pay API v3 cryptography (PROTOCOLS §2.2-2.4): the merchant's request signature
(`WECHATPAY2-SHA256-RSA2048`), the check of WeChat's signature on responses and notifications,
and the AES-256-GCM decryption of notification resources and downloaded certificates.

Everything works on bytes: a signature covers the exact bytes sent or received, never a
re-serialised object."""
from __future__ import annotations

import base64
import binascii
import secrets
import string
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

SCHEME = "WECHATPAY2-SHA256-RSA2048"
AEAD_ALGORITHM = "AEAD_AES_256_GCM"
_NONCE_ALPHABET = string.ascii_letters + string.digits


class DecryptionError(ValueError):
    """A resource that does not decrypt with our APIv3 key (forged, damaged or another key)."""


def new_nonce() -> str:
    """32 random alphanumerics, as the official SDKs send."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(32))


def request_message(method: str, raw_path: bytes, timestamp: int, nonce: str, body: bytes) -> bytes:
    """The five lines a request signature covers, each ending in `\\n`: method, the URL's raw path
    with its query, the unix time, the nonce and the exact body bytes (empty without a body)."""
    return b"".join([method.upper().encode(), b"\n", raw_path, b"\n", str(timestamp).encode(), b"\n",
                     nonce.encode(), b"\n", body, b"\n"])


def authorization(*, mchid: str, serial: str, key: RSAPrivateKey, method: str, raw_path: bytes,
                  body: bytes, timestamp: int, nonce: str) -> str:
    """The `Authorization` header of a request."""
    signature = base64.b64encode(key.sign(request_message(method, raw_path, timestamp, nonce, body),
                                          PKCS1v15(), SHA256())).decode()
    return (f'{SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp}",serial_no="{serial}"')


def response_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """The three lines WeChat signs on a response or notification: time, nonce, raw body."""
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


def signature_is_valid(key: RSAPublicKey, *, timestamp: str, nonce: str, body: bytes, signature: str) -> bool:
    """Whether `signature` (base64) is WeChat's SHA256withRSA over `timestamp`, `nonce` and `body`.
    Any malformed part (non-ASCII, bad base64) is simply not valid."""
    if not (timestamp.isascii() and nonce.isascii() and signature.isascii()):
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, response_message(timestamp, nonce, body), PKCS1v15(), SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def decrypt(api_v3_key: bytes, *, nonce: str, associated_data: str, ciphertext: str) -> bytes:
    """AES-256-GCM: key = the APIv3 key, IV = the nonce's bytes, AAD = `associated_data` (may be
    empty), input = base64(ciphertext ‖ 16-byte tag). Raises `DecryptionError`."""
    try:
        raw = base64.b64decode(ciphertext, validate=True)
        return AESGCM(api_v3_key).decrypt(nonce.encode(), raw, associated_data.encode())
    except (InvalidTag, binascii.Error, ValueError, UnicodeEncodeError) as error:
        raise DecryptionError(f"the resource does not decrypt with our APIv3 key ({type(error).__name__})") from None
