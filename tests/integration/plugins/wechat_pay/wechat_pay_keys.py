"""Throw-away key material for the WeChat Pay tests, generated at test time (never committed):
RSA-2048 keys, a self-signed X.509 certificate with a chosen serial, PEM encodings. Keys are
cached per test process (generating one takes tens of milliseconds)."""
from __future__ import annotations

import functools
import secrets
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def cached_key(role: str) -> rsa.RSAPrivateKey:
    """One key per `role` ("merchant", "platform-1", …) for the whole test process."""
    return new_key()


def private_pem(key: rsa.RSAPrivateKey) -> str:
    """PKCS#8 PEM, what WeChat's `apiclient_key.pem` looks like."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def new_serial() -> str:
    """A certificate serial as WeChat writes it: 40 upper-case hex digits (X.509 allows 159 bits)."""
    return format(secrets.randbits(159) | (1 << 156), "X")


def certificate_pem(key: rsa.RSAPrivateKey, serial: str, not_before: datetime, not_after: datetime,
                    common_name: str = "Tenpay.com Root CA (TEST)") -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(int(serial, 16)).not_valid_before(not_before).not_valid_after(not_after)
                   .sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def validity(now: datetime) -> tuple[datetime, datetime]:
    """A certificate's bounds around `now`: from a day before to five years after."""
    return now - timedelta(days=1), now + timedelta(days=5 * 365)
