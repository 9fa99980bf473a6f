"""Recording how a processing refund ended (the provider's answer, a notification or a follow-up):
`succeeded` adds its amount to the transaction's `refunded_amount` (`partially_refunded` or
`refunded`; automatic refunds leave it alone: they returned another session's payment), `failed`
keeps the provider's reason. Lock order: the transaction, then the refund."""
from __future__ import annotations

from datetime import datetime

from domain.refund import Refund, RefundKind, RefundStatus
from ports.unit_of_work import UnitOfWork


async def settle_refund(uow: UnitOfWork, refund_id: str, succeeded: bool, provider_reference: str | None,
                        failure_reason: str | None, now: datetime) -> Refund | None:
    """Record the outcome in `uow` (the caller commits); the refund afterwards, None if it is not
    stored. A refund no longer processing is left as it is (the same answer twice, or a late one)."""
    found = await uow.refunds.get(refund_id)
    if found is None:
        return None
    transaction = None
    if found.kind is not RefundKind.AUTOMATIC:
        transaction = await uow.transactions.get(found.transaction_id, for_update=True)
    refund = await uow.refunds.get(refund_id, for_update=True)
    assert refund is not None
    if refund.status is not RefundStatus.PROCESSING:
        return refund
    if succeeded:
        refund.succeed(provider_reference, now)
        if transaction is not None:
            transaction.record_refund(refund.amount, now)
            await uow.transactions.update(transaction)
    else:
        refund.fail(now, failure_reason)
    await uow.refunds.update(refund)
    return refund
