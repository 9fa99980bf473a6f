"""A user's refunds through the use cases, on the in-memory adapters and the mock provider: quote,
request (receives held through the ledger), list, get and cancel (held receives given back); an
admin's approval, rejection and retry; admin-initiated refunds with the two-person rule; the audit
log written with every change."""
import pytest
from builders import become, buy_and_pay, detail, ledger_balance
from world import World

from domain.errors import (
    InvalidTransitionError,
    NotFoundError,
    ProviderUnavailableError,
    TransactionNotFoundError,
)
from domain.money import CNY, Money
from domain.refund import RefundStatus, SelfApprovalError
from domain.refund_terms import NotRefundableError, RefundInProgressError
from ports.payment_provider import RefundState
from ports.refund_queries import AuditQuery, RefundQuery
from ports.use_cases.payments.list_transactions import ListTransactionsQuery
from ports.use_cases.plans.consume_receives import ConsumeReceivesCommand
from ports.use_cases.refunds.request_refund import (
    CancelRefundCommand,
    ListRefundsQuery,
    QuoteRefundQuery,
    RequestRefundCommand,
)
from ports.use_cases.refunds.review_refund import IssueRefundCommand, ReviewCommand


def cny(amount: int) -> Money:
    return Money(amount, CNY)


async def ask(world: World, transaction_id: str, receives: int | None = None, user: str = "alice"):
    return await world.request_refund(RequestRefundCommand(user, transaction_id, "bought by mistake", receives,
                                                           request_id="req-1"))


async def actions(world: World) -> list[tuple[str, str]]:
    """The audit log's (actor, action) in the order they were appended (the fixed clock gives them
    one `created_at`), checked against what the audit log use case lists."""
    page = await world.list_audit_log(AuditQuery(limit=100))
    assert sorted(e.id for e in page.items) == sorted(e.id for e in world.store.audit_log)
    return [(e.actor, e.action) for e in world.store.audit_log]


async def test_a_quote_prices_what_a_request_would_be_and_stores_nothing():
    world = World()
    bought = await buy_and_pay(world, "alice", 10)

    quote = await world.quote_refund(QuoteRefundQuery("alice", bought.transaction.id, 3))
    everything = await world.quote_refund(QuoteRefundQuery("alice", bought.transaction.id))

    assert (quote.amount, quote.receives, quote.ends_plan) == (cny(510), 3, False)
    assert (everything.amount, everything.receives) == (cny(1700), 10)
    assert world.store.refunds == {} and (await world.membership("alice")).purchased_remaining == 10


async def test_a_request_holds_its_receives_and_waits_for_an_admin():
    world = World()
    bought = await buy_and_pay(world, "alice", 10)

    refund = await ask(world, bought.transaction.id, 4)

    assert (refund.kind, refund.status, refund.amount, refund.receives) == ("requested", "requested", cny(680), 4)
    assert (refund.requested_by, refund.reason, refund.transaction_id) == ("alice", "bought by mistake",
                                                                           bought.transaction.id)
    membership = await world.membership("alice")
    assert membership.purchased_remaining == 6 and ledger_balance(world).purchased == 6
    assert [(e.kind.value, e.delta) for e in world.store.ledger[-1:]] == [("refund", -4)]
    assert await actions(world) == [("alice", "refund.requested")]
    entry = world.store.audit_log[-1]
    assert (entry.object_id, entry.request_id, entry.details["amount"]) == (refund.id, "req-1", 680)


async def test_the_held_receives_cannot_be_spent_while_the_request_waits():
    world = World()
    bought = await buy_and_pay(world, "alice", 10)
    await ask(world, bought.transaction.id)  # all ten held

    membership = await world.membership("alice")
    assert (membership.purchased_remaining, membership.balance) == (0, 3)  # the allowance
    with pytest.raises(Exception, match="Cannot consume 4"):
        await world.consume_receives(ConsumeReceivesCommand("alice", 4, "match-1"))


async def test_one_open_refund_per_transaction_and_nothing_of_someone_elses():
    world = World()
    bought = await buy_and_pay(world, "alice", 10)
    await ask(world, bought.transaction.id, 2)

    with pytest.raises(RefundInProgressError):
        await ask(world, bought.transaction.id, 2)
    with pytest.raises(TransactionNotFoundError):
        await ask(world, bought.transaction.id, 2, user="bob")
    with pytest.raises(TransactionNotFoundError):
        await world.quote_refund(QuoteRefundQuery("bob", bought.transaction.id))


async def test_cancelling_gives_the_receives_back_and_only_a_requested_refund_is_cancelled():
    world = World()
    bought = await buy_and_pay(world, "alice", 10)
    refund = await ask(world, bought.transaction.id, 4)

    with pytest.raises(NotFoundError):
        await world.cancel_refund(CancelRefundCommand("bob", refund.id))
    cancelled = await world.cancel_refund(CancelRefundCommand("alice", refund.id))

    assert cancelled.status == "cancelled"
    assert (await world.membership("alice")).purchased_remaining == 10
    assert [(e.kind.value, e.delta) for e in world.store.ledger[-2:]] == [("refund", -4), ("refund_release", 4)]
    with pytest.raises(InvalidTransitionError):
        await world.cancel_refund(CancelRefundCommand("alice", refund.id))
    assert await actions(world) == [("alice", "refund.requested"), ("alice", "refund.cancelled")]


async def test_approval_sends_the_refund_once_and_its_success_refunds_the_transaction_in_part():
    world = World()
    bought = await buy_and_pay(world, "alice", 10)
    refund = await ask(world, bought.transaction.id, 4)

    approved = await world.review_refunds.approve(ReviewCommand("admin1", refund.id, "fine", "req-2"))

    assert (approved.status, approved.reviewed_by, approved.review_note) == ("processing", "admin1", "fine")
    stored = world.store.refunds[refund.id]
    assert stored.status is RefundStatus.SUCCEEDED  # the mock answers at once
    assert (await world.mock.query_refund(stored.refund_order_id, stored.payment_order_id)).state \
        is RefundState.SUCCEEDED
    transaction = (await detail(world, "alice", bought.transaction.id)).transaction
    assert (transaction.status, transaction.refunded_amount) == ("partially_refunded", cny(680))
    assert (await world.membership("alice")).purchased_remaining == 6  # never given back
    with pytest.raises(InvalidTransitionError):  # a second approval
        await world.review_refunds.approve(ReviewCommand("admin2", refund.id))
    assert await actions(world) == [("alice", "refund.requested"), ("admin1", "refund.approved")]


async def test_the_last_refund_takes_what_is_left_and_the_transaction_reads_refunded():
    world = World()
    bought = await buy_and_pay(world, "alice", 10)
    for count in (3, 7):
        refund = await ask(world, bought.transaction.id, count)
        await world.review_refunds.approve(ReviewCommand("admin1", refund.id))

    transaction = (await detail(world, "alice", bought.transaction.id)).transaction
    assert (transaction.status, transaction.refunded_amount) == ("refunded", cny(1700))
    with pytest.raises(NotRefundableError, match="refunded"):
        await world.quote_refund(QuoteRefundQuery("alice", bought.transaction.id))


async def test_rejection_needs_a_note_and_gives_the_receives_back():
    world = World()
    bought = await buy_and_pay(world, "alice", 10)
    refund = await ask(world, bought.transaction.id, 5)

    with pytest.raises(Exception, match="note"):
        await world.review_refunds.reject(ReviewCommand("admin1", refund.id, None))
    rejected = await world.review_refunds.reject(ReviewCommand("admin1", refund.id, "used the receives"))

    assert (rejected.status, rejected.review_note) == ("rejected", "used the receives")
    assert (await world.membership("alice")).purchased_remaining == 10
    assert all(r.status is not RefundStatus.PROCESSING for r in world.store.refunds.values())  # nothing sent


async def test_the_window_binds_the_user():
    world = World()
    bought = await buy_and_pay(world, "alice", 10)
    world.advance(days=31)
    with pytest.raises(NotRefundableError, match="window"):
        await ask(world, bought.transaction.id)
    admin = await world.issue_refund(IssueRefundCommand("admin1", bought.transaction.id, "goodwill", amount=500))
    assert (admin.kind, admin.status, admin.amount) == ("admin", "processing", cny(500))


async def test_a_plan_refund_ends_the_plan_at_approval():
    world = World()
    await become(world, "alice", "pro")
    [upgrade_txn] = [t for t in (await world.list_transactions(ListTransactionsQuery("alice"))).items
                     if t.type == "plan_upgrade"]
    world.advance(days=7)

    refund = await ask(world, upgrade_txn.id)
    assert refund.ends_plan and refund.receives is None and 0 < refund.amount.amount < 2900
    assert (await world.membership("alice")).plan == "pro"  # not before approval
    await world.review_refunds.approve(ReviewCommand("admin1", refund.id))

    membership = await world.membership("alice")
    assert (membership.plan, membership.current_period_start, membership.scheduled_change) == (
        "basic", world.clock.now(), None)
    assert (await detail(world, "alice", upgrade_txn.id)).transaction.refunded_amount == refund.amount


async def test_an_admin_refund_above_the_threshold_needs_another_admin():
    world = World(refund_second_approval_above=1000)
    bought = await buy_and_pay(world, "alice", 10)

    issued = await world.issue_refund(IssueRefundCommand("admin1", bought.transaction.id, "complaint",
                                                         receives=10))

    assert (issued.kind, issued.status, issued.amount, issued.receives) == ("admin", "requested", cny(1700), 10)
    with pytest.raises(SelfApprovalError):
        await world.review_refunds.approve(ReviewCommand("admin1", issued.id))
    approved = await world.review_refunds.approve(ReviewCommand("admin2", issued.id))
    assert approved.status == "processing"
    assert world.store.refunds[issued.id].status is RefundStatus.SUCCEEDED
    assert await actions(world) == [("admin1", "refund.created"), ("admin2", "refund.approved")]


async def test_an_admin_refund_at_the_threshold_is_sent_at_once_and_takes_no_receives_unless_asked():
    world = World(refund_second_approval_above=1000)
    bought = await buy_and_pay(world, "alice", 10)

    issued = await world.issue_refund(IssueRefundCommand("admin1", bought.transaction.id, "goodwill", amount=1000))

    assert (issued.status, issued.receives) == ("processing", None)
    assert (await world.membership("alice")).purchased_remaining == 10
    transaction = (await detail(world, "alice", bought.transaction.id)).transaction
    assert (transaction.status, transaction.refunded_amount) == ("partially_refunded", cny(1000))


async def test_a_failed_refund_is_retried_with_the_same_order_id():
    world = World()
    bought = await buy_and_pay(world, "alice", 10)
    refund = await ask(world, bought.transaction.id, 2)
    world.mock.inject_fault("refund", ProviderUnavailableError("timeout"))
    await world.review_refunds.approve(ReviewCommand("admin1", refund.id))
    stored = world.store.refunds[refund.id]
    assert stored.status is RefundStatus.PROCESSING
    stored.fail(world.clock.now(), "merchant balance too low")  # as a provider's REFUND.ABNORMAL would
    world.store.refunds[refund.id] = stored

    with pytest.raises(InvalidTransitionError):
        await world.review_refunds.approve(ReviewCommand("admin1", refund.id))
    retried = await world.review_refunds.retry(ReviewCommand("admin1", refund.id))

    assert (retried.status, retried.order_id) == ("processing", refund.order_id)
    assert world.store.refunds[refund.id].status is RefundStatus.SUCCEEDED
    with pytest.raises(InvalidTransitionError, match="Only a failed refund"):
        await world.review_refunds.retry(ReviewCommand("admin1", refund.id))


async def test_lists_and_reads_are_scoped_and_the_queue_is_oldest_first():
    world = World()
    a = await buy_and_pay(world, "alice", 10)
    b = await buy_and_pay(world, "bob", 5)
    first = await ask(world, a.transaction.id, 1)
    world.advance(minutes=1)
    second = await ask(world, b.transaction.id, 1, user="bob")

    mine = await world.list_refunds(ListRefundsQuery("alice"))
    assert [r.id for r in mine.items] == [first.id] and mine.total == 1
    assert (await world.get_refund("alice", first.id)).id == first.id
    with pytest.raises(NotFoundError):
        await world.get_refund("bob", first.id)
    queue = await world.list_all_refunds(RefundQuery(statuses=(RefundStatus.REQUESTED,), oldest_first=True))
    assert [r.id for r in queue.items] == [first.id, second.id]
    newest = await world.list_all_refunds(RefundQuery())
    assert [r.id for r in newest.items] == [second.id, first.id]
    assert [r.id for r in (await world.list_all_refunds(RefundQuery(user_id="bob"))).items] == [second.id]


async def test_automatic_refunds_are_kind_automatic_and_in_the_audit_log():
    from test_refund_payments import pay_twice

    world = World()
    await pay_twice(world)

    [refund] = world.store.refunds.values()
    assert (refund.kind.value, refund.status) == ("automatic", RefundStatus.SUCCEEDED)
    assert await actions(world) == [("system", "refund.automatic")]
    assert (await world.list_all_refunds(RefundQuery(kinds=(refund.kind,)))).total == 1


async def test_a_refund_for_a_missing_or_downgrade_transaction_is_refused():
    world = World()
    with pytest.raises(TransactionNotFoundError):
        await ask(world, "txn_nope")
    await become(world, "alice", "pro")
    world.advance(days=1)
    from builders import upgrade
    down = await upgrade(world, "alice", "basic")
    with pytest.raises(NotRefundableError, match="plan_downgrade"):
        await ask(world, down.transaction.id)


async def test_a_plan_refund_is_not_approved_once_the_member_has_left_that_plan():
    world = World()
    await become(world, "alice", "pro")
    [pro] = [t for t in (await world.list_transactions(ListTransactionsQuery("alice"))).items
             if t.type == "plan_upgrade"]
    world.advance(days=3)
    refund = await ask(world, pro.id)
    await become(world, "alice", "vip")  # the pro credit went into the upgrade

    with pytest.raises(NotRefundableError, match="current plan and period"):
        await world.review_refunds.approve(ReviewCommand("admin1", refund.id))
    assert world.store.refunds[refund.id].status is RefundStatus.REQUESTED
    assert (await world.membership("alice")).plan == "vip"
    rejected = await world.review_refunds.reject(ReviewCommand("admin1", refund.id, "moved to vip"))
    assert rejected.status == "rejected"
