"""A plugin's settings: keys as PEM text (with real or escaped line breaks), a PEM file or a bare
base64 body; every refusal a one-line `SettingError` naming the variable and never the value."""
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from plugins.settings import SettingError, optional, required, rsa_private_key, rsa_public_key

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
PUBLIC_PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def _same_private(key) -> bool:
    return key.private_numbers() == KEY.private_numbers()


def test_a_private_key_reads_from_pem_text_escaped_text_a_file_or_a_bare_body(tmp_path: Path):
    path = tmp_path / "key.pem"
    path.write_text(PRIVATE_PEM)
    for value in (PRIVATE_PEM, PRIVATE_PEM.replace("\n", "\\n"), str(path), _body(PRIVATE_PEM)):
        assert _same_private(rsa_private_key({"P_KEY": value}, "P_KEY"))


def test_a_public_key_reads_from_pem_text_or_a_bare_body():
    for value in (PUBLIC_PEM, _body(PUBLIC_PEM)):
        assert rsa_public_key({"P_PUB": value}, "P_PUB").public_numbers() == KEY.public_key().public_numbers()


@pytest.mark.parametrize("value, reason", [
    ("", "P_KEY is not set"),
    ("not a key, nor a file", "P_KEY is neither PEM text, a readable PEM file nor a base64 key"),
    ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "P_KEY is not an unencrypted PEM private key"),
])
def test_a_missing_or_malformed_private_key_is_named_and_not_echoed(value: str, reason: str):
    with pytest.raises(SettingError) as raised:
        rsa_private_key({"P_KEY": value}, "P_KEY")
    assert str(raised.value) == reason and "\n" not in str(raised.value)


def test_a_key_that_is_not_rsa_is_refused():
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(SettingError, match="P_KEY must be an RSA private key of at least 2048 bits"):
        rsa_private_key({"P_KEY": ec_pem}, "P_KEY")
    with pytest.raises(SettingError, match="P_PUB is not a PEM public key or certificate"):
        rsa_public_key({"P_PUB": PRIVATE_PEM}, "P_PUB")


def test_required_and_optional_values_are_stripped():
    assert required({"A": "  x "}, "A") == "x"
    assert optional({"A": "  "}, "A", "default") == "default"
    with pytest.raises(SettingError, match="^B is not set$"):
        required({"A": "x"}, "B")
