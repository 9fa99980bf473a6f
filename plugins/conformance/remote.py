"""Checks against a failing remote side: 5xx, refused connections and timeouts are
`ProviderUnavailableError` (the outcome unknown), a 4xx refusal a plain `ProviderError`, and no
`httpx` exception ever escapes. They run when the harness can make its remote fail."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from domain.errors import InvalidSignatureError, ProviderError, ProviderUnavailableError
from plugins.conformance.base import Checks, settle, skip
from plugins.conformance.harness import Harness


class RemoteFailureChecks(Checks):
    async def test_a_remote_5xx_is_provider_unavailable_for_every_call(self, harness: Harness) -> None:
        for status in (500, 503):
            escaped = await self._calls_against_a_failing_remote(harness, status)
            wrong = {call: error for call, error in escaped.items() if not isinstance(error, ProviderUnavailableError)}
            assert not wrong, f"after HTTP {status}, expected ProviderUnavailableError from each call, got {wrong}"

    async def test_a_refused_connection_or_a_timeout_is_provider_unavailable_and_no_httpx_error_escapes(
            self, harness: Harness) -> None:
        for failure in (httpx.ConnectError("connection refused"), httpx.ReadTimeout("timed out")):
            escaped = await self._calls_against_a_failing_remote(harness, failure)
            wrong = {call: error for call, error in escaped.items() if not isinstance(error, ProviderUnavailableError)}
            assert not wrong, f"after {failure!r}, expected ProviderUnavailableError from each call, got {wrong}"

    async def test_a_remote_4xx_refusal_is_a_provider_error_whose_outcome_is_known(self, harness: Harness) -> None:
        escaped = await self._calls_against_a_failing_remote(harness, 400)

        wrong = {call: error for call, error in escaped.items()
                 if not isinstance(error, ProviderError)
                 or isinstance(error, (ProviderUnavailableError, InvalidSignatureError))}
        assert not wrong, f"after HTTP 400, expected a plain ProviderError (not unavailable) from each call, got {wrong}"

    async def _calls_against_a_failing_remote(self, h: Harness, failure: int | Exception) -> dict[str, Exception | None]:
        """Each of the provider's remote calls, made after the remote started failing with `failure`."""
        fail_remote_with = getattr(h, "fail_remote_with", None)
        if fail_remote_with is None:
            skip(f"the harness of {h.provider.name} cannot make its remote fail (no fail_remote_with)")
        capabilities = h.provider.capabilities
        opened, _ = await self._opened(h)
        paid = await self._paid(h) if capabilities.can_refund else None
        await settle(fail_remote_with(failure))
        calls: dict[str, Callable[[], Awaitable[Any]]] = {"open_payment": lambda: h.provider.open_payment(h.order())}
        if capabilities.can_query:
            calls["query_payment"] = lambda: h.provider.query_payment(opened.order_id)
        if capabilities.can_close:
            calls["close_payment"] = lambda: h.provider.close_payment(opened.order_id)
        if paid is not None:
            refund = paid.refund()
            calls["refund"] = lambda: h.provider.refund(refund)
            calls["query_refund"] = lambda: h.provider.query_refund(refund.refund_order_id, paid.order.order_id)
        escaped = {name: await self._failing(h, call()) for name, call in calls.items()}
        await settle(fail_remote_with(None))
        return escaped
