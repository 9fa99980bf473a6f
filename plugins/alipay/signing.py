"""RSA2 as Alipay uses it: SHA256withRSA (PKCS#1 v1.5) over the parameters sorted by key and joined
as `key=value` with `&`, values raw (not URL-encoded), empty values left out; base64 signatures.

Requests are signed with our app private key over every parameter but `sign` (`sign_type`
included); notifications are verified with Alipay's public key over every field but `sign` and
`sign_type`; synchronous answers over the raw text of their response node (see `gateway`)."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.hashes import SHA256

SIGN_TYPE = "RSA2"


def sign_content(params: Mapping[str, str], exclude: Iterable[str] = ("sign",), *, keep_empty: bool = False) -> str:
    """The text that is signed: `k=v` pairs sorted by key (ASCII), joined by `&`, raw values;
    keys in `exclude` and (unless `keep_empty`) empty values left out."""
    excluded = frozenset(exclude)
    return "&".join(f"{key}={value}" for key, value in sorted(params.items())
                    if key not in excluded and (keep_empty or value not in (None, "")))


def sign(private_key: RSAPrivateKey, content: str) -> str:
    """The base64 RSA2 signature of `content` (UTF-8)."""
    return base64.b64encode(private_key.sign(content.encode("utf-8"), PKCS1v15(), SHA256())).decode("ascii")


def verify(public_key: RSAPublicKey, content: str | bytes, signature: str) -> bool:
    """Whether `signature` (base64) is an RSA2 signature of `content` by `public_key`'s owner."""
    try:
        raw_signature = base64.b64decode("".join(signature.split()).encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        public_key.verify(raw_signature, data, PKCS1v15(), SHA256())
    except InvalidSignature:
        return False
    return True
