"""Benchmark of a provider's notification verified and applied: WeChat Pay, Alipay and Stripe.

In-process, through the service's own path: the container built by the composition root
(`entrypoints.container.build_container`) on a fresh PostgreSQL database (migrated here, dropped at
the end), its `handle_notification` use case (the plugin's `prepare_notification` and
`parse_notification`, then the unit of work that settles the session, credits the membership and
writes the outbox row) with the real plugins, loaded by their entry points and wired to the fakes
of their own tests (`tests/integration/plugins/*`: throwaway keys made at run time). No HTTP.

For each provider: `--n` purchases (default 2,000) of distinct users opened through the
`purchase_receives` use case (pending sessions, not measured), then a real signed notification of
each paid by a payer of its own (`--one-payer`: the fakes' single payer, then linked to all
`--n` users, which costs more per notification as `--n` grows: docs/benchmarks.md), and:

- applied: the use case per notification, CPU of this process (`time.process_time`; PostgreSQL's
  own CPU is another process and not counted), and wall time;
- the plugin's `parse_notification` alone (signature, WeChat Pay's AES-GCM decryption, parsing)
  and its signature check alone, over the same notifications: their share of the above;
- the plain implementation: the official SDK's verification of the same notification
  (`wechatpayv3` `WeChatPay.callback`, which verifies and decrypts; `python-alipay-sdk`
  `AliPay.verify`; `stripe.Webhook.construct_event`, which verifies and parses).

    .venv/bin/python tests/bench/notifications.py [--url postgresql://postgres@127.0.0.1:5432/postgres] [--n 2000]

Not a test: pytest does not collect it.
"""
from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
for plugin_tests in ("wechat_pay", "alipay", "stripe"):
    sys.path.insert(0, str(ROOT / "tests" / "integration" / "plugins" / plugin_tests))

import attrs
import psycopg
import stripe
from alipay import AliPay
from alipay_fake_gateway import APP_ID as ALIPAY_APP_ID
from alipay_fake_gateway import private_pem as alipay_private_pem
from alipay_fake_gateway import public_pem as alipay_public_pem
from alipay_harness import AlipayHarness
from dependency_injector import providers
from stripe_harness import StripeHarness
from test_wechat_pay_conformance import WeChatPayHarness
from wechat_pay_keys import private_pem as wechat_private_pem
from wechat_pay_keys import public_pem as wechat_public_pem
from wechatpayv3 import WeChatPay, WeChatPayType

from adapters.sql.migration import migrate
from entrypoints.config import load_config
from entrypoints.container import build_container
from plugins.alipay import notifications as alipay_notifications
from plugins.stripe import signature as stripe_signature
from plugins.wechat_pay import notifications as wechat_notifications
from ports.payment_provider import PaymentOrder
from ports.use_cases.notifications.handle_notification import (
    HandleNotificationCommand,
    NotificationEffect,
)
from ports.use_cases.payments.purchase_receives import PurchaseReceivesCommand

METHODS = {"wechat_pay": "wechat_pay", "alipay": "alipay", "stripe": "credit_card"}
NOTIFY_URL = "https://payments.example.test/api/v1/payments/webhooks/wechat_pay"


async def made(provider):
    """What a provider of the container makes (awaited when it depends on an async resource)."""
    value = provider()
    return await value if inspect.isawaitable(value) else value


def cpu_ms_each(calls: list, fn) -> float:
    """Mean process CPU per call of `fn(*call)`, in ms."""
    started = time.process_time()
    for call in calls:
        fn(*call)
    return (time.process_time() - started) * 1000 / len(calls)


# ------------------------------------------------------------------ each provider's SDK and signature check
def wechat_sdk(h: WeChatPayHarness) -> WeChatPay:
    fake = h.fake
    return WeChatPay(wechatpay_type=WeChatPayType.NATIVE, mchid=fake.mchid, private_key=wechat_private_pem(fake.merchant_key),
                     cert_serial_no=fake.merchant_serial, appid=fake.appid, apiv3_key=fake.api_v3_key,
                     notify_url=NOTIFY_URL, public_key=wechat_public_pem(fake.public_key),
                     public_key_id=fake.public_key_id)


def alipay_sdk(h: AlipayHarness) -> AliPay:
    return AliPay(appid=ALIPAY_APP_ID,
                  app_notify_url="https://payments.example.test/api/v1/payments/webhooks/alipay",
                  app_private_key_string=alipay_private_pem(h.keys.app),
                  alipay_public_key_string=alipay_public_pem(h.keys.alipay), sign_type="RSA2")


def alipay_sdk_verify(sdk: AliPay, headers, body: bytes) -> None:
    fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
    signature = fields.pop("sign")
    assert sdk.verify(fields, signature), "the SDK refused the notification"


def sdk_verifier(name: str, h):
    if name == "wechat_pay":
        sdk = wechat_sdk(h)

        def verify(headers, body):
            assert sdk.callback(headers, body) is not None, "the SDK refused the notification"
        return verify, "wechatpayv3 WeChatPay.callback (RSA-SHA256 check + AES-256-GCM decryption)"
    if name == "alipay":
        sdk = alipay_sdk(h)
        return (lambda headers, body: alipay_sdk_verify(sdk, headers, body)), "python-alipay-sdk AliPay.verify (RSA2)"
    secret = h.webhook_secrets[0]
    return ((lambda headers, body: stripe.Webhook.construct_event(body, headers["Stripe-Signature"], secret,
                                                                  tolerance=None)),
            "stripe Webhook.construct_event (HMAC-SHA256 + JSON)")


def signature_check(name: str, h):
    """The plugin's signature check alone (no decryption, no parsing into an event)."""
    provider = h.provider
    if name == "wechat_pay":
        return lambda headers, body: wechat_notifications.verify(headers, body, keys=provider._keys, clock=h.clock)
    if name == "alipay":
        key = provider._settings.alipay_public_key
        return lambda headers, body: alipay_notifications.verify(alipay_notifications.read_form(body), key,
                                                                 h.clock.now())
    secrets_ = provider._settings.webhook_secrets
    return lambda headers, body: stripe_signature.verify(headers, body, secrets_, int(h.clock.now().timestamp()))


def signed(name: str, h, order: PaymentOrder, payer: str | None):
    """The harness's signed notification of `order` paid; by the payer `payer` (the fakes' one
    payer for every order when None)."""
    if payer is None or name == "stripe":  # the fake Stripe's sessions name no payer
        return h.signed_notification(order)
    if name == "wechat_pay":
        return h.fake.transaction_notification(order.order_id, order.amount.amount, order.amount.currency.code,
                                               payer={"openid": f"oBench{payer}"})
    return h.notification(order, buyer_id=f"2088{payer}")


# ------------------------------------------------------------------ one provider
async def bench_provider(name: str, h, url: str, n: int, workdir: str, one_payer: bool) -> dict:
    config = load_config({
        "PAYMENTS_DATABASE_URL": url, "PAYMENTS_PUBLIC_URL": "https://payments.example.test",
        "PAYMENTS_MOCK_STATE_PATH": str(Path(workdir) / f"mock-{name}.sqlite3"),
        "PAYMENTS_METHOD_ROUTES": f"{METHODS[name]}={name}"})
    container = build_container(config)
    container.adapters.payment_providers.override(providers.Object({name: h.provider}))
    await container.init_resources()
    try:
        purchase = await made(container.use_cases.purchase_receives)
        handle = await made(container.use_cases.handle_notification)
        notifications = []
        run = secrets.token_hex(3)
        opened = time.perf_counter()
        for i in range(n):
            bought = await purchase(PurchaseReceivesCommand(f"bench-{name}-{run}-{i}", 10, METHODS[name]))
            session = bought.session
            order = attrs.evolve(h.order(), order_id=session.order_id, amount=session.amount)
            if hasattr(h, "pay_remotely"):
                h.pay_remotely(session.order_id)
            notifications.append(signed(name, h, order, None if one_payer else f"{run}{i:06d}"))

        print(f"{name}: {n} pending purchases opened in {time.perf_counter() - opened:.1f} s", file=sys.stderr)
        # the notification applied, through the use case (CPU of this process and wall time)
        cpu, wall = [], []
        for headers, body in notifications:
            c0, w0 = time.process_time(), time.perf_counter()
            result = await handle(HandleNotificationCommand(name, headers, body))
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            assert result.effect is NotificationEffect.APPLIED, result
        # the same notifications re-sent (providers re-send until acknowledged): found duplicate
        again = time.process_time()
        for headers, body in notifications:
            result = await handle(HandleNotificationCommand(name, headers, body))
            assert result.effect is NotificationEffect.DUPLICATE, result
        duplicate = (time.process_time() - again) * 1000 / n
    finally:
        await container.shutdown_resources()

    parse = cpu_ms_each(notifications, h.provider.parse_notification)
    signature = cpu_ms_each(notifications, signature_check(name, h))
    verify, sdk_what = sdk_verifier(name, h)
    sdk = cpu_ms_each(notifications, verify)
    return {"name": name, "applied_cpu": statistics.fmean(cpu) * 1000,
            "applied_cpu_p99": sorted(cpu)[int(len(cpu) * 0.99) - 1] * 1000,
            "applied_wall": statistics.fmean(wall) * 1000, "duplicate": duplicate, "parse": parse,
            "signature": signature, "sdk": sdk, "sdk_what": sdk_what}


def credited(url: str) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT provider, count(*) FROM payment_sessions WHERE status = 'completed' "
                                  "GROUP BY provider").fetchall()
    return dict(rows)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=os.environ.get("PAYMENTS_TEST_POSTGRES_URL",
                                                        "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--providers", default="wechat_pay,alipay,stripe")
    parser.add_argument("--one-payer", action="store_true",
                        help="every notification by the fakes' one payer (linked to every user: docs/risk.md)")
    args = parser.parse_args()

    name = f"payments_bench_notifications_{secrets.token_hex(3)}"
    with psycopg.connect(args.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(args.url)._replace(path=f"/{name}"))
    harnesses = {"wechat_pay": lambda: WeChatPayHarness("public_key"), "alipay": AlipayHarness,
                 "stripe": StripeHarness}
    results = []
    try:
        migrate(url)
        with tempfile.TemporaryDirectory() as workdir:
            for provider in args.providers.split(","):
                results.append(await bench_provider(provider, harnesses[provider](), url, args.n, workdir,
                                                    args.one_payer))
        try:
            print("sessions completed per provider:", credited(url))
        except psycopg.Error as error:
            print("(could not count the completed sessions:", error, ")")
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    print(f"\nnotifications: {args.n} per provider, in-process use case on PostgreSQL; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| provider | applied: CPU ms/notification (mean / p99) | wall ms | re-sent (duplicate): CPU ms | "
          "plugin parse_notification ms (share) | signature check alone ms (share) | official SDK verify ms |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['name']} | {r['applied_cpu']:.3f} / {r['applied_cpu_p99']:.3f} | {r['applied_wall']:.2f} | {r['duplicate']:.3f} | "
              f"{r['parse']:.3f} ({r['parse'] / r['applied_cpu']:.0%}) | "
              f"{r['signature']:.3f} ({r['signature'] / r['applied_cpu']:.0%}) | {r['sdk']:.3f} |")
    for r in results:
        print(f"  {r['name']} SDK: {r['sdk_what']}")


if __name__ == "__main__":
    asyncio.run(main())
