"""The conformance kit for payment provider plugins: one pytest suite that any plugin runs against
itself, checking the contract of `ports.payment_provider.PaymentProvider` (port 1.1) through the
plugin's own fake remote side.

Running it takes one line in the plugin's tests, once there is a *harness* (see `Harness`;
`BaseHarness` fills in the generic parts):

    class TestMyProvider(ProviderConformance, harness=MyHarness): pass

where, for example,

    from plugins.conformance import BaseHarness, ProviderConformance

    class MyHarness(BaseHarness):
        def __init__(self):
            self.clock = MyFixedClock(...)                # standing still on a whole second
            self.remote = MyFakeRemote(...)              # the provider's server side, in memory
            http = httpx.AsyncClient(transport=httpx.MockTransport(self.remote.handle))
            self.provider = plugins.discover(["my"], SETTINGS, http=http, clock=self.clock)["my"]
        def signed_notification(self, order, *, succeeded=True): ...
        def forged_notification(self, order): ...
        def stale_notification(self, order, *, age_seconds=301): ...
        def pay_remotely(self, order_id): ...
        # optional, each enabling more checks: sign_body, signed_refund_notification, fail_remote_with, retime,
        # open_body and seal_body (a body whose fields travel sealed, as WeChat Pay's encrypted resource)

`harness=` takes any zero-argument factory. Instead, a `def harness(self)` method in the class, or a
pytest fixture named `harness` (in the module or a conftest, e.g. to parametrise the suite over
several set-ups), may build it. A new harness is built for every check.

The kit is also a pytest plugin (`plugins.conformance.pytest_plugin`, entry point
`payments_conformance` in group `pytest11`), loaded by pytest wherever this service is installed: it
runs the async checks itself (no pytest-asyncio or `asyncio_mode` needed) and marks them
`payments_conformance` (`pytest -m payments_conformance` runs the kit alone).

What is checked (each a test method named by the rule it checks; modules by subject):
- `plugin`: installed as an entry point of group `payments.providers` under its `name` with a factory
  `(settings, *, http, clock)`; the port's calls (I/O async, `parse_notification` and `acknowledge`
  not); a declared `requires_port` this port serves; capabilities well formed (known method ids,
  flows, ISO currencies); pages from `web_routes()`, if any, are aiohttp routes outside `/api/`.
- `orders`: `open_payment` gives a URL and/or QR code and is idempotent for the same `order_id`; an
  order the provider does not know queries as PENDING; a remotely paid one as SUCCEEDED with its
  amount; `close_payment` is idempotent, unknown orders close quietly and paid ones are refused.
- `refunds`: refunds of paid orders succeed or pend, the same `refund_order_id` again never refunds
  twice, refunds never exceed the payment, unpaid orders are refused, a refund can be queried and an
  unknown one raises `RefundNotFoundError` (a plugin of port 1.0 may answer FAILED or a `ProviderError`).
- `notifications`: authentic ones parse to the right `ProviderEventKind` with event id, order id and
  `Money` amount read exactly (integer minor units, amounts such as 0.29 that floating point gets
  wrong; another currency reported as that currency; an unknown currency reported as it is or
  refused; an amount written as a float, as a string where the protocol has a number, or finer
  than the minor unit refused, never rounded); event ids are the same for a re-delivery signed
  again later and different between orders and between a payment and the refunds of one order; a
  different amount still parses (the core detects the mismatch); header names match in any case;
  a missing signature, a tampered body, a wrong key, a signed time changed without signing again, a
  time more than 300 s away (exactly 300 s accepted), garbage and an authentic but unreadable body
  are refused with `InvalidSignatureError`, and non-ASCII junk in any header is refused so or
  ignored, never any other exception.
- `acknowledgements`: ACCEPTED 2xx, REJECTED 401, RETRY 5xx, each with a valid `Content-Type`
  (parameters allowed: `text/plain;charset=utf-8`) that aiohttp serves verbatim, as the service's
  webhook endpoint does.
- `remote`: when the harness can make its remote fail, 5xx answers, refused connections and
  timeouts raise `ProviderUnavailableError`, a 4xx refusal a plain `ProviderError`, and no `httpx`
  exception ever escapes.

Skips are declared, never guessed: refund checks skip when the capabilities say `can_refund=False`
(likewise `can_query`, `can_close`, `can_refund_partially`); the harness declares what its protocol
lacks with `sends_failure_notifications = False`, `signs_timestamps = False` or
`names_currency = False`, and leaves out the optional members it cannot offer. Every skip names its
reason.

The kit's checks can only see the plugin; that the service's real webhook endpoint answers a forged
notification 401 and serves any valid acknowledgement is tested in the service's own end-to-end
tests, for the mock and the example plugin.

This package is only imported by tests; it needs no pytest to be imported (the service's own
run-time environment has none), only to run.
"""
from plugins.conformance.base import Paid
from plugins.conformance.harness import TOLERANCE_SECONDS, BaseHarness, Harness, Notification, new_order_id
from plugins.conformance.suite import ProviderConformance

__all__ = ["BaseHarness", "Harness", "Notification", "Paid", "ProviderConformance", "TOLERANCE_SECONDS",
           "new_order_id"]
