"""Send pending refunds to their providers and record what they answer.

A refund row is committed first (status `pending`); the provider is called outside any unit of
work with the refund's own `refund_order_id` as its idempotency key, so sending it again (after
a crash or a timeout) can never refund twice."""
from __future__ import annotations

import logging
from datetime import timedelta

import attrs

from domain.errors import ProviderError
from domain.refund import RefundStatus
from ports.clock import Clock
from ports.payment_provider import RefundOrder, RefundResult, RefundState, ProviderRegistry
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.settings import UseCaseSettings

log = logging.getLogger("payments.refunds")


@attrs.define
class SubmitRefund:
    _uow: UnitOfWorkFactory
    _providers: ProviderRegistry
    _clock: Clock
    _settings: UseCaseSettings

    async def __call__(self, refund_id: str) -> str:
        """Send refund `refund_id`; returns its status afterwards."""
        async with self._uow() as uow:
            refund = await uow.refunds.get(refund_id)
            session = await uow.sessions.get(refund.session_id) if refund else None
        if refund is None or session is None:
            raise LookupError(f"refund {refund_id} not found")
        provider = self._providers.get(refund.provider)
        if refund.status is not RefundStatus.PENDING or provider is None:
            return refund.status.value
        order = RefundOrder(
            refund_order_id=refund.refund_order_id, payment_order_id=refund.payment_order_id,
            amount=refund.amount, payment_total=session.amount, reason=refund.reason.value,
            provider_reference=session.provider_reference, notify_url=self._settings.notify_url(provider.name))
        try:
            result = await provider.refund(order)
        except ProviderError as error:
            log.warning("refund %s not accepted by %s yet: %s", refund.id, refund.provider, error)
            return refund.status.value
        return await self._record(refund_id, result)

    async def _record(self, refund_id: str, result: RefundResult) -> str:
        now = self._clock.now()
        async with self._uow() as uow:
            refund = await uow.refunds.get(refund_id, for_update=True)
            assert refund is not None
            if refund.status is RefundStatus.PENDING and result.state is not RefundState.PENDING:
                if result.state is RefundState.SUCCEEDED:
                    refund.succeed(result.provider_reference, now)
                else:
                    refund.fail(now)
                await uow.refunds.update(refund)
                await uow.commit()
            return refund.status.value


@attrs.define
class RetryRefunds:
    """Send again the refunds still pending a while after they were created (the provider was
    down, or answered "pending"): the same refund number never refunds twice, and the provider's
    answer moves them on. Run periodically."""

    _uow: UnitOfWorkFactory
    _submit: SubmitRefund
    _clock: Clock
    min_age: timedelta = timedelta(minutes=1)
    batch_size: int = 50

    async def __call__(self) -> int:
        async with self._uow(read_only=True) as uow:
            pending = await uow.refunds.list_pending(self._clock.now() - self.min_age, self.batch_size)
        for refund in pending:
            await self._submit(refund.id)
        return len(pending)
