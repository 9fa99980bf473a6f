"""Checks of `parse_notification`: authentic notifications translated exactly (kind, ids, amount
and currency), event ids that de-duplicate re-deliveries and nothing else, and every forgery,
stale or re-timed signature and unreadable body refused with `InvalidSignatureError` alone."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from domain.errors import InvalidSignatureError
from domain.money import Currency, Money
from plugins.conformance.base import Checks, skip
from plugins.conformance.harness import TOLERANCE_SECONDS, Harness, new_order_id, retime_in_headers
from ports.payment_provider import ProviderEventKind

EXACT_AMOUNTS = (1, 29, 57, 115, 1700, 98765, 123456789012)  # 0.29 × 100 is 28.999… in floating point
WRITTEN_AMOUNT = 98765  # a distinctive amount, to find where the body writes it
UNKNOWN_CURRENCY = Currency("XTS", 2)  # ISO 4217's code for testing: no service knows it
_KNOWN = ("CNY", "USD", "JPY")


class NotificationChecks(Checks):
    # ------------------------------------------------------------------ authentic notifications
    async def test_an_authentic_payment_notification_is_a_payment_succeeded_event_with_order_and_amount(
            self, harness: Harness) -> None:
        h = harness
        order = h.order()

        event = self._authentic(h, order)

        assert event.kind is ProviderEventKind.PAYMENT_SUCCEEDED
        assert event.order_id == order.order_id
        assert isinstance(event.amount, Money) and event.amount == order.amount, (event.amount, order.amount)
        assert event.merchant_id is None or event.merchant_id == h.provider.merchant_id

    async def test_an_authentic_failure_notification_is_a_payment_failed_or_closed_event(
            self, harness: Harness) -> None:
        h = harness
        if not getattr(h, "sends_failure_notifications", True):
            skip(f"the harness declares that {h.provider.name} sends no notification of unpaid endings")
        order = h.order()

        event = self._authentic(h, order, succeeded=False)

        assert event.kind in (ProviderEventKind.PAYMENT_FAILED, ProviderEventKind.PAYMENT_CLOSED), event.kind
        assert event.order_id == order.order_id

    async def test_an_authentic_refund_notification_is_a_refund_event_with_its_refund_id(
            self, harness: Harness) -> None:
        h = harness
        signed_refund_notification = self._refund_notifications(h)
        order, refund_order_id = h.order(), new_order_id("R")

        for succeeded, kind in ((True, ProviderEventKind.REFUND_SUCCEEDED), (False, ProviderEventKind.REFUND_FAILED)):
            event = self._parsed(h, *signed_refund_notification(order, refund_order_id, succeeded=succeeded),
                                 what="an authentic refund notification")
            assert (event.kind, event.order_id, event.refund_order_id) == (kind, order.order_id, refund_order_id)

    async def test_amounts_are_read_exactly_as_integer_minor_units(self, harness: Harness) -> None:
        h = harness
        currency = h.order().amount.currency

        for minor in EXACT_AMOUNTS:
            event = self._authentic(h, h.order(amount=Money(minor, currency)))
            assert isinstance(event.amount, Money) and type(event.amount.amount) is int, event.amount
            assert event.amount == Money(minor, currency), \
                f"{Money(minor, currency).format()} was read as {event.amount.format() if event.amount else None}"

    async def test_a_notification_whose_amount_differs_from_the_order_still_parses(self, harness: Harness) -> None:
        h = harness
        order = h.order()
        claimed = Money(order.amount.amount + 1, order.amount.currency)

        event = self._authentic(h, attrs.evolve(order, amount=claimed))

        # Verified and translated as it is: the core compares it with the order and keeps it apart.
        assert (event.order_id, event.amount) == (order.order_id, claimed)

    async def test_a_notification_in_another_currency_reports_that_currency_never_the_orders(
            self, harness: Harness) -> None:
        h = harness
        if not getattr(h, "names_currency", True):
            skip(f"the harness declares that {h.provider.name}'s notifications name no currency")
        order = h.order()
        others = [Currency.of(code) for code in _KNOWN if code != order.amount.currency.code]
        # Another number of decimals first: coercing 1700 JPY into CNY would also move the decimal point.
        other = sorted(others, key=lambda c: c.minor_unit == order.amount.currency.minor_unit)[0]
        claimed = Money(order.amount.amount, other)

        event = self._authentic(h, attrs.evolve(order, amount=claimed))

        assert event.amount == claimed, f"a notification in {other.code} was read as {event.amount!r}"

    async def test_a_notification_in_a_currency_the_service_does_not_know_is_reported_as_it_is_or_refused(
            self, harness: Harness) -> None:
        h = harness
        if not getattr(h, "names_currency", True):
            skip(f"the harness declares that {h.provider.name}'s notifications name no currency")
        order = h.order(amount=Money(1700, UNKNOWN_CURRENCY))
        try:
            headers, body = h.signed_notification(order)
        except Exception as error:
            skip(f"the harness of {h.provider.name} cannot write a notification in {UNKNOWN_CURRENCY.code} "
                 f"({type(error).__name__}: {error})")

        try:
            event = h.provider.parse_notification(dict(headers), body)
        except InvalidSignatureError:
            return  # refused: allowed
        except Exception as error:
            raise AssertionError(f"a notification in {UNKNOWN_CURRENCY.code} raised {type(error).__name__} ({error}); "
                                 "report the currency as it is or raise InvalidSignatureError") from error
        assert event.amount is None or (event.amount.currency.code, event.amount.amount) == (UNKNOWN_CURRENCY.code, 1700), \
            f"a notification in {UNKNOWN_CURRENCY.code} must not read as {event.amount!r}"

    async def test_an_amount_written_as_a_float_or_a_string_or_beyond_the_minor_unit_is_refused_never_rounded(
            self, harness: Harness) -> None:
        h = harness
        sign_body = self._signer(h)
        order = h.order()
        order = attrs.evolve(order, amount=Money(WRITTEN_AMOUNT, order.amount.currency))
        _, body = h.signed_notification(order)
        open_body, seal_body = getattr(h, "open_body", None), getattr(h, "seal_body", None)
        try:
            document = open_body(body) if open_body is not None else json.loads(body)
        except ValueError:
            skip(f"{h.provider.name}'s notification body is not JSON: the kit writes amount variants in JSON only")
        variants = list(_amount_variants(document, order.amount))
        if not variants:
            skip(f"the amount {order.amount.format()} does not appear in {h.provider.name}'s notification body "
                 f"as {WRITTEN_AMOUNT} or {_major(order.amount)!r}")

        for what, variant in variants:
            changed = (seal_body(body, variant) if seal_body is not None
                       else json.dumps(variant, separators=(",", ":")).encode())
            self._refused(h, sign_body(changed), changed, f"an authentic notification with the amount written as {what}")

    # ------------------------------------------------------------------ event ids
    async def test_the_same_notification_parsed_twice_has_the_same_event_id(self, harness: Harness) -> None:
        h = harness
        headers, body = h.signed_notification(h.order())

        first = h.provider.parse_notification(dict(headers), body)
        again = h.provider.parse_notification(dict(headers), body)

        assert first.event_id == again.event_id

    async def test_a_re_delivery_signed_again_later_has_the_same_event_id(self, harness: Harness) -> None:
        h = harness
        sign_body = self._signer(h)
        _, body = h.signed_notification(h.order())
        first = self._signed_at(h, sign_body, body, 120)  # the first delivery two minutes ago; this one now
        again = self._signed_at(h, sign_body, body, 0)
        if first is None or again is None:  # a sign_body without age_seconds: signed again at the same time
            first = again = (dict(sign_body(body)), body)

        first_id = self._parsed(h, *first, what="a notification signed two minutes ago").event_id
        again_id = self._parsed(h, *again, what="its re-delivery").event_id

        assert first_id == again_id, (f"a re-delivery of one notification must keep its event id (the de-duplication "
                                      f"key), not {first_id!r} then {again_id!r}")

    async def test_notifications_about_different_orders_have_different_event_ids(self, harness: Harness) -> None:
        h = harness

        ids = {self._authentic(h, h.order()).event_id for _ in range(3)}

        assert len(ids) == 3, "the event id is the de-duplication key: distinct notifications must not share it"

    async def test_a_payment_and_refunds_of_the_same_order_have_different_event_ids(self, harness: Harness) -> None:
        h = harness
        signed_refund_notification = self._refund_notifications(h)
        order = h.order()

        events = {"the payment": self._authentic(h, order)}
        for n in (1, 2):
            events[f"refund {n}"] = self._parsed(h, *signed_refund_notification(order, new_order_id("R"), succeeded=True),
                                                 what="an authentic refund notification")
        if getattr(h, "sends_failure_notifications", True):
            events["a failure"] = self._authentic(h, order, succeeded=False)

        ids = {what: event.event_id for what, event in events.items()}
        assert len(set(ids.values())) == len(ids), \
            f"notifications about one order must not share an event id (the de-duplication key): {ids}"

    # ------------------------------------------------------------------ refusals
    async def test_header_names_are_matched_case_insensitively(self, harness: Harness) -> None:
        h = harness
        order = h.order()
        headers, body = h.signed_notification(order)

        for variant in ({k.lower(): v for k, v in headers.items()}, {k.upper(): v for k, v in headers.items()}):
            assert h.provider.parse_notification(variant, body).order_id == order.order_id, variant

    async def test_a_notification_without_its_signature_is_refused(self, harness: Harness) -> None:
        h = harness
        headers, body = h.signed_notification(h.order())

        self._refused(h, *h.strip_signature(headers, body), "a notification without its signature")

    async def test_a_notification_whose_body_was_changed_after_signing_is_refused(self, harness: Harness) -> None:
        h = harness
        order = h.order()
        headers, body = h.signed_notification(order)
        tampered_headers, tampered = h.tamper(headers, body, order)
        assert tampered != body, "tamper() must change the body"

        self._refused(h, tampered_headers, tampered, "a tampered body")

    async def test_a_notification_signed_with_another_key_is_refused(self, harness: Harness) -> None:
        h = harness

        self._refused(h, *h.forged_notification(h.order()), "a notification signed with another key")

    async def test_a_notification_whose_signed_time_was_changed_without_signing_again_is_refused(
            self, harness: Harness) -> None:
        h = harness
        self._require_signed_time(h)
        headers, body = h.signed_notification(h.order())
        signed_at = int(h.clock.now().timestamp())  # type: ignore[attr-defined]
        retime: Callable[..., Any] = getattr(h, "retime", None) or (
            lambda headers, body, timestamp: retime_in_headers(headers, body, signed_at, timestamp))

        for shift in (-60, 60):  # still fresh: only the signature can tell
            retimed = retime(headers, body, signed_at + shift)
            if retimed is None:
                skip(f"no header of {h.provider.name}'s notifications holds the signing time as unix seconds; "
                     "give the harness a retime()")
            self._refused(h, *retimed, f"a notification whose signed time was moved by {shift:+d} s without signing")

    async def test_a_notification_older_or_newer_than_the_tolerance_is_refused(self, harness: Harness) -> None:
        h = harness
        self._require_signed_time(h)
        order = h.order()

        self._refused(h, *h.stale_notification(order, age_seconds=TOLERANCE_SECONDS + 1),
                      f"a notification {TOLERANCE_SECONDS + 1} s old")
        self._refused(h, *h.stale_notification(order, age_seconds=-(TOLERANCE_SECONDS + 1)),
                      f"a notification signed {TOLERANCE_SECONDS + 1} s in the future")
        self._refused(h, *h.stale_notification(order, age_seconds=86400), "a notification a day old")

    async def test_a_notification_within_the_tolerance_up_to_its_exact_bound_is_accepted(
            self, harness: Harness) -> None:
        h = harness
        self._require_signed_time(h)
        order = h.order()

        for age in (TOLERANCE_SECONDS - 10, -(TOLERANCE_SECONDS - 10), TOLERANCE_SECONDS, -TOLERANCE_SECONDS):
            event = self._parsed(h, *h.stale_notification(order, age_seconds=age),
                                 what=f"a notification signed {age} s ago (the port accepts ±{TOLERANCE_SECONDS} s)")
            assert event.order_id == order.order_id

    async def test_garbage_is_refused_with_invalid_signature_error_and_nothing_else(self, harness: Harness) -> None:
        h = harness
        headers, body = h.signed_notification(h.order())
        cases = {
            "no headers and no body": ({}, b""),
            "an empty body": (headers, b""),
            "a body that is not what the provider sends": (headers, b"<xml>hello</xml>"),
            "bytes that are no text": (headers, b"\xff\xfe\x00\x81"),
            "half of the body": (headers, body[: len(body) // 2]),
        }
        for what, (case_headers, case_body) in cases.items():
            self._refused(h, dict(case_headers), case_body, what)

    async def test_an_authentic_but_unreadable_body_is_refused_with_invalid_signature_error(
            self, harness: Harness) -> None:
        h = harness
        sign_body = self._signer(h)
        for body in (b"", b"null", b"[]", b"{}", b"not what the provider sends", b"\xff\xfe", b'{"type": 1}'):
            self._refused(h, sign_body(body), body, f"the authentic but unreadable body {body!r}")

    async def test_a_header_with_non_ascii_junk_is_refused_or_ignored_never_a_crash(self, harness: Harness) -> None:
        h = harness
        headers, body = h.signed_notification(h.order())

        for name in headers:
            junk = {**headers, name: headers[name] + "\u00e9\u2603"}
            try:
                h.provider.parse_notification(junk, body)
            except InvalidSignatureError:
                pass
            except Exception as error:
                raise AssertionError(f"non-ASCII junk in header {name}: raised {type(error).__name__} ({error}); "
                                     "every refusal must be InvalidSignatureError") from error

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _require_signed_time(h: Harness) -> None:
        if not getattr(h, "signs_timestamps", True):
            skip(f"the harness declares that {h.provider.name}'s notifications carry no signed time")

    @staticmethod
    def _refund_notifications(h: Harness) -> Callable[..., Any]:
        signed_refund_notification = getattr(h, "signed_refund_notification", None)
        if signed_refund_notification is None:
            skip(f"the harness of {h.provider.name} has no signed_refund_notification (it sends none)")
        return signed_refund_notification


def _major(money: Money) -> str:
    """`money` as a decimal string of major units with exactly its currency's decimals."""
    exponent = money.currency.minor_unit
    units, minor = divmod(money.amount, 10**exponent)
    return f"{units}.{minor:0{exponent}d}" if exponent else str(units)


def _amount_variants(document: Any, money: Money) -> Iterator[tuple[str, Any]]:
    """Copies of `document` with the amount written otherwise: as a float, as a string where it is
    a number, a number where it is a string, or with more precision than the minor unit."""
    major = _major(money)
    scale = 10**money.currency.minor_unit
    for path, value in _leaves(document):
        if type(value) is int and value == money.amount:
            replacements = {f"the float {float(value)!r}": float(value), f"the string {str(value)!r}": str(value),
                            f"the float {money.amount / scale!r} of major units": money.amount / scale}
        elif isinstance(value, str) and value == major:
            replacements = {f"the float {money.amount / scale!r}": money.amount / scale,
                            f"the string {major + '5'!r}, finer than the minor unit": major + ("5" if scale > 1 else ".5")}
        elif isinstance(value, str) and value == str(money.amount):
            replacements = {f"the number {money.amount}": money.amount, f"the float {float(money.amount)!r}":
                            float(money.amount), f"the string {value + '.5'!r}, finer than the minor unit": value + ".5"}
        else:
            continue
        for what, replacement in replacements.items():
            yield what, _replaced(document, path, replacement)


def _leaves(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def _replaced(document: Any, path: tuple, replacement: Any) -> Any:
    if not path:
        return replacement
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        return {**document, head: _replaced(document[head], rest, replacement)}
    return [_replaced(item, rest, replacement) if index == head else item for index, item in enumerate(document)]
