"""What a worker of `payments serve` keeps out of its memory with every shipped plugin loaded
(issue 22, docs/benchmarks.md "Memory per worker with every plugin loaded"): httpx until a plugin
calls out, the optional extras of dependency-injector (pydantic, pydantic-settings, PyYAML,
werkzeug) and of databases (click), coredis with beartype and valkey beside redis-py (the rate
limits' client, loaded when Redis is configured), the in-memory adapters, the migration and
documentation stacks; and once a plugin calls out, httpx without its command line (click, rich,
pygments). Checked in a fresh interpreter,
where `sys.modules` shows what was imported."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[3]
KEPT_OUT = ("httpx", "pydantic_settings", "pydantic", "pydantic_core", "yaml", "werkzeug", "click", "coredis",
            "beartype", "valkey", "alembic", "psycopg", "apispec", "aiohttp_apispec", "jinja2", "adapters.memory",
            "entrypoints.memory_container")


def throwaway_keys(directory: Path) -> None:
    for name in ("merchant", "wechat_platform", "alipay_app", "alipay_platform"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (directory / f"{name}.key.pem").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (directory / f"{name}.pub.pem").write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def test_a_worker_with_every_plugin_loaded_imports_none_of_the_heavy_extras(tmp_path: Path) -> None:
    throwaway_keys(tmp_path)
    environ = {
        "PAYMENTS_DATABASE_URL": f"sqlite:///{tmp_path}/payments.db",
        "PAYMENTS_MOCK_STATE_PATH": str(tmp_path / "mock.sqlite3"),
        "PAYMENTS_REDIS_URL": "redis://127.0.0.1:6379/0",  # the rate limits' storage is made, not used
        "PAYMENTS_METHOD_ROUTES": "wechat_pay=wechat_pay,alipay=alipay,credit_card=stripe,mock=mock",
        "PAYMENTS_WECHAT_PAY_MCHID": "1900000001", "PAYMENTS_WECHAT_PAY_APPID": "wxtest0000000001",
        "PAYMENTS_WECHAT_PAY_PRIVATE_KEY": str(tmp_path / "merchant.key.pem"),
        "PAYMENTS_WECHAT_PAY_CERT_SERIAL": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "PAYMENTS_WECHAT_PAY_API_V3_KEY": "0" * 32,
        "PAYMENTS_WECHAT_PAY_PUBLIC_KEY": str(tmp_path / "wechat_platform.pub.pem"),
        "PAYMENTS_WECHAT_PAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0100000000TEST",
        "PAYMENTS_ALIPAY_APP_ID": "2021000000000001",
        "PAYMENTS_ALIPAY_PRIVATE_KEY": str(tmp_path / "alipay_app.key.pem"),
        "PAYMENTS_ALIPAY_PUBLIC_KEY": str(tmp_path / "alipay_platform.pub.pem"),
        "PAYMENTS_STRIPE_SECRET_KEY": "sk_test_" + "0" * 24, "PAYMENTS_STRIPE_WEBHOOK_SECRETS": "whsec_" + "0" * 24,
    }
    code = (
        "import os, sys\n"
        "from entrypoints.config import load_config\n"
        "from entrypoints.container import build_container\n"
        "from entrypoints.http.app import create_app\n"
        "from entrypoints.http.server import app_factory, serve\n"
        "config = load_config(os.environ)\n"
        "container = build_container(config)\n"
        "app = create_app(container)\n"
        "from adapters.clock import SystemClock\n"
        "from entrypoints.http_client import LazyHttpClient\n"
        "from plugins import discover\n"
        "loaded = discover(set(config.method_routes.values()), config.environ, http=LazyHttpClient(),"
        " clock=SystemClock())\n"
        "print(sorted(loaded))\n"
        "print('redis' in sys.modules)\n"
        f"print([name for name in {KEPT_OUT!r} if name in sys.modules])\n"
        "LazyHttpClient()._real()  # a plugin's first call: httpx, without its command line\n"
        "print('httpx' in sys.modules, [name for name in ('httpx._main', 'click', 'rich', 'pygments')"
        " if name in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", **environ})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == ["['alipay', 'mock', 'stripe', 'wechat_pay']", "True", "[]",
                                      "True []"]
