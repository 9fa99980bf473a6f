"""Reading a plugin's own settings (`PAYMENTS_<NAME>_*`): required values, and keys given as PEM
text or as the path of a PEM file, as the contract allows. Every error is a `SettingError` (a
`ValueError`) whose one-line message names the variable, which start-up prints as it is; a value
is never echoed back, since most of these are secrets."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

__all__ = ["SettingError", "optional", "pem_bytes", "required", "rsa_private_key", "rsa_public_key"]

_PEM_BEGIN = b"-----BEGIN "


class SettingError(ValueError):
    """A plugin setting is missing or malformed; the message names it."""


def required(settings: Mapping[str, str], name: str) -> str:
    """The non-blank value of `name`, stripped."""
    value = settings.get(name, "").strip()
    if not value:
        raise SettingError(f"{name} is not set")
    return value


def optional(settings: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """The value of `name`, stripped, or `default` when it is unset or blank."""
    value = settings.get(name, "").strip()
    return value or default


def pem_bytes(settings: Mapping[str, str], name: str) -> bytes:
    """The PEM text of `name`: given inline (`-----BEGIN …`, with real or `\\n`-escaped line
    breaks, as environment files often hold it), as the path of a PEM file, or as the bare base64
    body of a key (as the Alipay console shows it), which is wrapped as a PEM of `PUBLIC KEY` or
    `PRIVATE KEY` by what it decodes to."""
    value = required(settings, name)
    if value.startswith("-----BEGIN"):
        return value.replace("\\n", "\n").encode()
    path = Path(value).expanduser()
    if _is_file(path):
        try:
            return path.read_bytes()
        except OSError as error:
            raise SettingError(f"{name}: cannot read {path}: {error.strerror}") from None
    body = "".join(value.split())
    try:
        base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise SettingError(f"{name} is neither PEM text, a readable PEM file nor a base64 key") from None
    return _wrap_der(body)


def _is_file(path: Path) -> bool:
    """Whether `path` names a file; False for what cannot be a path at all (a bare base64 key has
    runs longer than a file name may be: ENAMETOOLONG, whose message would echo the key)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _wrap_der(body: str) -> bytes:
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    try:
        load_der_private_key(base64.b64decode(body), password=None)
        label = "PRIVATE KEY"
    except (ValueError, TypeError):
        label = "PUBLIC KEY"
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])).encode()


def rsa_private_key(settings: Mapping[str, str], name: str) -> RSAPrivateKey:
    """An RSA private key (PKCS#1 or PKCS#8, unencrypted) of at least 2048 bits."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem_bytes(settings, name), password=None)
    except SettingError:
        raise
    except (ValueError, TypeError):
        raise SettingError(f"{name} is not an unencrypted PEM private key") from None
    if not isinstance(key, RSAPrivateKey) or key.key_size < 2048:
        raise SettingError(f"{name} must be an RSA private key of at least 2048 bits")
    return key


def rsa_public_key(settings: Mapping[str, str], name: str) -> RSAPublicKey:
    """An RSA public key, given as a public key (`PUBLIC KEY`, `RSA PUBLIC KEY`) or inside an X.509
    certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    pem = pem_bytes(settings, name)
    try:
        key = (x509.load_pem_x509_certificate(pem).public_key() if b"CERTIFICATE-----" in pem
               else load_pem_public_key(pem))
    except (ValueError, TypeError):
        raise SettingError(f"{name} is not a PEM public key or certificate") from None
    if not isinstance(key, RSAPublicKey):
        raise SettingError(f"{name} must be an RSA public key")
    return key
