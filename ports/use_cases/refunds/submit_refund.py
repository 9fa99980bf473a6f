"""Send refunds to their providers and follow the processing ones until they end.

A refund row is committed first (status `processing`); the provider is called outside any unit of
work with the refund's own `refund_order_id` as its idempotency key, so sending it again (after
a crash or a timeout) can never refund twice. A refund still pending at its `next_attempt_at` is
followed up: the provider is asked about it (`query_refund`); one it never received is sent
again. The follow-ups back off (`domain.refund`), are claimed with `SKIP LOCKED` (each by one
worker), and a refund still pending 72 hours after it was made is marked `failed` for an admin.
"""
from __future__ import annotations

import logging

import attrs

from domain.errors import ProviderError, ProviderUnavailableError, RefundNotFoundError
from domain.refund import FOLLOW_UP_LIMIT, Refund, RefundStatus
from ports.clock import Clock
from ports.payment_provider import (
    PaymentProvider,
    ProviderRegistry,
    RefundOrder,
    RefundResult,
    RefundState,
)
from ports.queries import PaymentQueries
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.refunds.settle_refund import settle_refund
from ports.use_cases.settings import UseCaseSettings

log = logging.getLogger("payments.refunds")
# The failure reason of a refund the provider refused (its own words may name merchant details:
# they are logged, never shown).
REFUSED = "refused_by_provider"


@attrs.define
class SubmitRefund:
    _uow: UnitOfWorkFactory
    _queries: PaymentQueries
    _providers: ProviderRegistry
    _clock: Clock
    _settings: UseCaseSettings

    async def __call__(self, refund_id: str) -> RefundStatus:
        """Send refund `refund_id`; returns its status afterwards."""
        refund, provider = await self._pending(refund_id)
        if provider is None:
            return refund.status
        return await self._send(refund, provider)

    async def follow(self, refund_id: str) -> RefundStatus:
        """Ask the provider about a pending refund and record how it ended; one the provider never
        received is sent again (same refund number). Returns its status afterwards."""
        refund, provider = await self._pending(refund_id)
        if provider is None:
            return refund.status
        try:
            result = await provider.query_refund(refund.refund_order_id, refund.payment_order_id)
        except RefundNotFoundError:
            return await self._send(refund, provider)
        except ProviderError as error:
            log.warning("could not ask %s about refund %s: %s", refund.provider, refund.id, error)
            return refund.status
        return await self._record(refund_id, result)

    async def claim_follow_ups(self, limit: int) -> list[str]:
        """Claim the pending refunds due for a follow-up (skipping those another worker holds),
        schedule their next one, and give up those pending too long. Returns the ids to follow."""
        now = self._clock.now()
        to_follow: list[str] = []
        async with self._uow() as uow:
            for refund in await uow.refunds.claim_follow_ups(now, limit):
                if refund.take_follow_up(now):
                    to_follow.append(refund.id)
                else:
                    log.error("refund %s (%s at %s, order %s) still pending %s after it was made: marked failed, "
                              "for an admin to settle", refund.id, refund.amount, refund.provider,
                              refund.refund_order_id, FOLLOW_UP_LIMIT)
                await uow.refunds.update(refund)
            await uow.commit()
        return to_follow

    async def _pending(self, refund_id: str) -> tuple[Refund, PaymentProvider | None]:
        """The refund, and its provider while it is pending (None once it ended)."""
        async with self._uow() as uow:
            refund = await uow.refunds.get(refund_id)
        if refund is None:
            raise LookupError(f"refund {refund_id} not found")
        provider = self._providers.get(refund.provider)
        return refund, provider if refund.status is RefundStatus.PENDING else None

    async def _send(self, refund: Refund, provider: PaymentProvider) -> RefundStatus:
        transaction = await self._queries.transaction(refund.transaction_id)
        assert transaction is not None, f"refund {refund.id} of a transaction that is not stored"
        session = transaction.session(refund.session_id)
        order = RefundOrder(
            refund_order_id=refund.refund_order_id, payment_order_id=refund.payment_order_id,
            amount=refund.amount, payment_total=session.amount, reason=refund.reason,
            provider_reference=session.provider_reference, notify_url=self._settings.notify_url(provider.name))
        try:
            result = await provider.refund(order)
        except ProviderUnavailableError as error:  # the outcome is unknown: the follow-ups ask
            log.warning("refund %s not accepted by %s yet: %s", refund.id, refund.provider, error)
            return refund.status
        except ProviderError as error:  # refused: `failed`, for an admin to retry (same refund number)
            log.error("refund %s refused by %s: %s", refund.id, refund.provider, error)
            return await self._record(refund.id, RefundResult(refund.refund_order_id, RefundState.FAILED),
                                      failure_reason=REFUSED)
        return await self._record(refund.id, result)

    async def _record(self, refund_id: str, result: RefundResult, failure_reason: str | None = None) -> RefundStatus:
        now = self._clock.now()
        async with self._uow() as uow:
            if result.state is RefundState.PENDING:
                refund = await uow.refunds.get(refund_id)
                assert refund is not None
                return refund.status
            refund = await settle_refund(uow, refund_id, result.state is RefundState.SUCCEEDED,
                                         result.provider_reference,
                                         failure_reason or result.failure_reason, now)
            assert refund is not None
            await uow.commit()
            return refund.status


@attrs.define
class RetryRefunds:
    """Follow up the pending refunds that are due (the provider was down, or answered
    "pending"): the provider is asked, and one it never received is sent again; the same refund
    number never refunds twice. Each is claimed by one worker, backing off between follow-ups;
    one pending 72 hours is marked failed. Run periodically; returns how many were followed."""

    _submit: SubmitRefund
    batch_size: int = 50

    async def __call__(self) -> int:
        due = await self._submit.claim_follow_ups(self.batch_size)
        for refund_id in due:
            await self._submit.follow(refund_id)
        return len(due)
