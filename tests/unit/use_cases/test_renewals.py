"""Auto-renewal (docs/renewals.md) through the service's own use cases on in-memory adapters, with a
fixed clock: every branch of the renewal job — renewed with the saved method, declined then
past_due then retried, the reminder opened at the notice days and paid in grace (the new period
starting at the old end), unpaid past grace (basic, the renewal failed), scheduled downgrades, no
auto-renewal, and the job run twice or by two workers at once (one renewal)."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import attrs
import pytest

from domain.errors import InvalidTransitionError, SavedMethodNotFoundError
from domain.saved_method import SavedMethod
from domain.transaction import Transaction, TransactionStatus, TransactionType
from entrypoints.container import active_adapters
from plugins.mock.remote import MockSavedMethod
from ports.queries import TransactionQuery
from ports.repositories import DuplicateKeyError
from ports.use_cases.plans.change_plan import ChangePlanCommand
from ports.use_cases.renewals.set_subscription import SetSubscriptionCommand
from ports.use_cases.sessions.open_session import OpenSessionCommand
from world import World

USER = "renewing-user"
DAY = timedelta(days=1)


class Renewals(World):
    def __init__(self, **settings) -> None:
        super().__init__(**settings)
        self.set_subscription = self.container.use_cases.set_subscription()
        self.renew = self.container.use_cases.renew_memberships()

    async def on_plan(self, plan: str = "pro", user: str = USER) -> None:
        started = await self.change_plan(ChangePlanCommand(user, plan, "mock"))
        await self.pay(started.session)
        assert (await self.membership(user)).plan == plan

    async def save_card(self, card: str = "ok", user: str = USER, method_id: str = "spm_renewal") -> str:
        """A saved mock card that does `card` on every off-session charge (as the checkout page's
        `card` field makes one), stored at the mock and here, the user's default."""
        token = f"mock_pm_{method_id}"
        self.mock._remote.save_method(MockSavedMethod(token=token, order_id="S" + method_id, payment_method="mock",
                                                      card=card))
        async with self.uow() as uow:
            await uow.saved_methods.add(SavedMethod.save(
                id=method_id, user_id=user, provider="mock", payment_method="mock", token=token,
                label="Mock card •••• 4242", brand="visa", last4="4242", exp_month=12, exp_year=2030,
                is_default=True, now=self.clock.now()))
            await uow.commit()
        return method_id

    def card_now_does(self, method_id: str, card: str) -> None:
        token = f"mock_pm_{method_id}"
        self.mock._remote._saved[token] = attrs.evolve(self.mock._remote.saved_method(token), card=card)

    async def auto_renew(self, on: bool = True, method: str | None = None, user: str = USER):
        return await self.set_subscription(SetSubscriptionCommand(user, on, method))

    async def renewals(self, user: str = USER) -> list[Transaction]:
        items, _ = await self.queries.history(user, TransactionQuery(types=(TransactionType.PLAN_RENEWAL,)))
        return items

    async def renewal(self, user: str = USER) -> Transaction:
        [renewal] = await self.renewals(user)
        return await self.queries.transaction(renewal.id)

    def at(self, moment) -> None:
        self.clock.advance(moment - self.clock.now())

    def outbox_types(self, user: str = USER) -> list[str]:
        return [e.type for e in self.store.outbox if e.user_id == user]


def renewals_world(**settings) -> Renewals:
    return Renewals(**settings)


@pytest.fixture
def w() -> Renewals:
    return renewals_world()


def charges_at_mock(w: Renewals, transaction: Transaction) -> int:
    """Off-session orders of `transaction` that the mock's remote holds (each is one charge)."""
    return sum(1 for s in transaction.sessions if s.off_session and w.mock._remote.get(s.order_id) is not None)


# ---------------------------------------------------------------------------- POST /subscription
async def test_auto_renew_defaults_to_the_default_saved_method_and_shows_the_next_renewal(w):
    await w.on_plan("pro")
    method = await w.save_card()
    view = await w.auto_renew()
    start_end = (await w.membership(USER)).current_period_end
    assert (view.auto_renew, view.renewal_method_id, view.next_renewal_at, view.grace_until, view.status) == \
        (True, method, start_end, None, "active")
    off = await w.auto_renew(False)
    assert (off.auto_renew, off.renewal_method_id, off.next_renewal_at) == (False, None, None)


async def test_auto_renew_without_a_saved_method_renews_by_reminder(w):
    await w.on_plan("pro")
    view = await w.auto_renew()
    assert view.auto_renew and view.renewal_method_id is None


async def test_auto_renew_is_refused_on_basic_and_an_unknown_method_is_not_found(w):
    with pytest.raises(InvalidTransitionError):
        await w.auto_renew()
    await w.on_plan("pro")
    with pytest.raises(SavedMethodNotFoundError):
        await w.auto_renew(method="spm_nobody")
    await w.save_card(user="someone-else", method_id="spm_theirs")
    with pytest.raises(SavedMethodNotFoundError):
        await w.auto_renew(method="spm_theirs")


# ---------------------------------------------------------------------------- with a saved method
async def test_renewed_with_the_saved_method_at_the_period_end(w):
    await w.on_plan("pro")
    await w.save_card("ok")
    await w.auto_renew()
    before = await w.membership(USER)
    await w.renew()
    assert await w.renewals() == []  # nothing before the period end
    w.at(before.current_period_end)
    await w.renew()
    renewal = await w.renewal()
    after = await w.membership(USER)
    assert renewal.status is TransactionStatus.SUCCEEDED and renewal.total.amount == 2900
    assert renewal.renewal_period_start == before.current_period_end
    assert (after.plan, after.status, after.current_period_start, after.allowance_remaining) == \
        ("pro", "active", before.current_period_end, 20)
    assert after.next_renewal_at == after.current_period_end
    assert charges_at_mock(w, renewal) == 1


async def test_declined_then_past_due_then_retried_on_day_one(w):
    await w.on_plan("pro")
    method = await w.save_card("declines")
    await w.auto_renew()
    end = (await w.membership(USER)).current_period_end
    w.at(end)
    await w.renew()
    renewal = await w.renewal()
    membership = await w.membership(USER)
    assert renewal.status is TransactionStatus.PENDING and renewal.failure_reason == "card_declined"
    assert (membership.status, membership.plan, membership.grace_until) == ("past_due", "pro", end + 7 * DAY)
    w.advance(hours=12)
    await w.renew()  # not a retry day yet
    assert len([s for s in (await w.renewal()).sessions if s.off_session]) == 1
    w.card_now_does(method, "ok")  # the payer sorted their card out
    w.at(end + DAY)
    await w.renew()
    renewal = await w.renewal()
    membership = await w.membership(USER)
    assert renewal.status is TransactionStatus.SUCCEEDED
    assert (membership.status, membership.grace_until, membership.current_period_start) == ("active", None, end)
    assert membership.allowance_remaining == 20
    assert len([s for s in renewal.sessions if s.off_session]) == 2


async def test_a_method_that_keeps_declining_is_charged_on_each_retry_day_then_lapses(w):
    await w.on_plan("pro")
    await w.save_card("declines")
    await w.auto_renew()
    end = (await w.membership(USER)).current_period_end
    for day in (0, 1, 2, 3, 4, 5, 6):
        w.at(end + day * DAY + timedelta(minutes=1))
        await w.renew()
    renewal = await w.renewal()
    assert len([s for s in renewal.sessions if s.off_session]) == 4  # the end, then days 1, 3 and 5
    w.at(end + 7 * DAY)
    await w.renew()
    renewal = await w.renewal()
    membership = await w.membership(USER)
    assert renewal.status is TransactionStatus.FAILED and renewal.failure_reason == "renewal_unpaid"
    assert (membership.plan, membership.status, membership.current_period_start, membership.auto_renew) == \
        ("basic", "active", end + 7 * DAY, False)


async def test_a_blocked_user_is_not_charged_the_renewal_goes_past_due_and_is_charged_once_unblocked(w):
    await w.on_plan("pro")
    await w.save_card("ok")
    await w.auto_renew()
    end = (await w.membership(USER)).current_period_end
    risk = active_adapters(w.container).risk_store()
    await risk.set_blocked(USER, True, reason="fraud", by="admin-1", now=w.clock.now())
    w.at(end)
    await w.renew()
    renewal = await w.renewal()
    assert renewal.status is TransactionStatus.PENDING
    assert [s for s in renewal.sessions if s.off_session] == []  # the gate refused before any charge
    assert (await w.membership(USER)).status == "past_due"
    await risk.set_blocked(USER, False, reason=None, by="admin-1", now=w.clock.now())
    w.at(end + DAY)  # the next retry day asks the gate again
    await w.renew()
    renewal = await w.renewal()
    assert renewal.status is TransactionStatus.SUCCEEDED and charges_at_mock(w, renewal) == 1
    assert (await w.membership(USER)).status == "active"


# ---------------------------------------------------------------------------- by reminder
async def test_the_reminder_is_opened_at_the_notice_days_and_paid_in_grace_starts_at_the_old_end():
    w = renewals_world()  # the defaults: notice 3 days, grace 7
    await w.on_plan("vip")
    await w.auto_renew()
    end = (await w.membership(USER)).current_period_end
    w.at(end - 3 * DAY - timedelta(seconds=1))
    await w.renew()
    assert await w.renewals() == []
    w.at(end - 3 * DAY)
    await w.renew()
    renewal = await w.renewal()
    assert (renewal.status, renewal.total.amount, renewal.plan_to.value) == (TransactionStatus.PENDING, 5900, "vip")
    w.at(end + 2 * DAY)  # unpaid at the end: past_due, before the job looked at it too
    membership = await w.membership(USER)
    assert (membership.status, membership.plan, membership.grace_until) == ("past_due", "vip", end + 7 * DAY)
    await w.renew()
    opened = await w.open_session(OpenSessionCommand(USER, renewal.id, "mock"))
    await w.pay(opened)
    membership = await w.membership(USER)
    assert (membership.status, membership.plan, membership.current_period_start, membership.grace_until) == \
        ("active", "vip", end, None)
    assert membership.allowance_remaining == 100
    assert (await w.renewal()).status is TransactionStatus.SUCCEEDED


async def test_a_reminder_paid_before_the_period_end_starts_the_next_period_at_the_end(w):
    await w.on_plan("pro")
    await w.auto_renew()
    end = (await w.membership(USER)).current_period_end
    w.at(end - 2 * DAY)
    await w.renew()
    opened = await w.open_session(OpenSessionCommand(USER, (await w.renewal()).id, "mock"))
    await w.pay(opened)
    still = await w.membership(USER)
    assert (still.current_period_end, still.status) == (end, "active")
    w.at(end + timedelta(hours=1))
    membership = await w.membership(USER)
    assert (membership.plan, membership.status, membership.current_period_start, membership.allowance_remaining) == \
        ("pro", "active", end, 20)


async def test_unpaid_past_grace_the_renewal_fails_and_the_membership_is_basic_from_then(w):
    await w.on_plan("pro")
    await w.auto_renew()
    end = (await w.membership(USER)).current_period_end
    w.at(end - 3 * DAY)
    await w.renew()
    w.at(end + 8 * DAY)
    membership = await w.membership(USER)  # a read before the job: basic since grace_until
    assert (membership.plan, membership.status, membership.current_period_start) == ("basic", "active", end + 7 * DAY)
    await w.renew()
    renewal = await w.renewal()
    assert renewal.status is TransactionStatus.FAILED and renewal.failure_reason == "renewal_unpaid"


async def test_renewal_events_in_the_outbox():
    w = events_world()
    await w.on_plan("pro")
    await w.auto_renew()
    end = (await w.membership(USER)).current_period_end
    w.at(end - 3 * DAY)
    await w.renew()
    assert "membership.renewal_due" in w.outbox_types()
    w.at(end)
    await w.renew()
    assert w.outbox_types().count("membership.past_due") == 1
    await w.renew()
    assert w.outbox_types().count("membership.past_due") == 1


# ---------------------------------------------------------------------------- scheduled changes
async def test_a_scheduled_move_to_basic_means_no_renewal(w):
    await w.on_plan("pro")
    await w.save_card("ok")
    await w.auto_renew()
    await w.change_plan(ChangePlanCommand(USER, "basic"))
    end = (await w.membership(USER)).current_period_end
    w.at(end + timedelta(minutes=1))
    await w.renew()
    membership = await w.membership(USER)
    assert await w.renewals() == []
    assert (membership.plan, membership.auto_renew) == ("basic", False)


async def test_a_scheduled_move_from_vip_to_pro_renews_pro(w):
    await w.on_plan("vip")
    await w.save_card("ok")
    await w.auto_renew()
    await w.change_plan(ChangePlanCommand(USER, "pro"))
    end = (await w.membership(USER)).current_period_end
    w.at(end)
    await w.renew()
    renewal = await w.renewal()
    membership = await w.membership(USER)
    assert (renewal.status, renewal.plan_from.value, renewal.plan_to.value, renewal.total.amount) == \
        (TransactionStatus.SUCCEEDED, "vip", "pro", 2900)
    assert (membership.plan, membership.monthly_allowance, membership.scheduled_change) == ("pro", 20, None)


async def test_without_auto_renew_a_paid_plan_lapses_at_its_period_end(w):
    await w.on_plan("pro")
    await w.save_card("ok")
    end = (await w.membership(USER)).current_period_end
    w.at(end + timedelta(minutes=1))
    await w.renew()
    membership = await w.membership(USER)
    assert await w.renewals() == []
    assert (membership.plan, membership.status, membership.current_period_start) == ("basic", "active", end)


async def test_turning_auto_renew_off_cancels_an_opened_reminder_at_the_period_end(w):
    await w.on_plan("pro")
    await w.auto_renew()
    end = (await w.membership(USER)).current_period_end
    w.at(end - 3 * DAY)
    await w.renew()
    await w.auto_renew(False)
    w.at(end)
    await w.renew()
    assert (await w.renewal()).status is TransactionStatus.CANCELLED
    assert (await w.membership(USER)).plan == "basic"


# ---------------------------------------------------------------------------- at most one
async def test_the_job_run_twice_opens_and_charges_one_renewal(w):
    await w.on_plan("pro")
    await w.save_card("ok")
    await w.auto_renew()
    w.at((await w.membership(USER)).current_period_end)
    await w.renew()
    await w.renew()
    renewal = await w.renewal()
    assert renewal.status is TransactionStatus.SUCCEEDED and charges_at_mock(w, renewal) == 1


async def test_two_workers_at_once_open_one_renewal_each_charged_once(w):
    users = [f"u{i}" for i in range(20)]
    for user in users:
        await w.on_plan("pro", user)
        await w.save_card("ok", user, method_id=f"spm_{user}")
        await w.auto_renew(user=user)
    w.at((await w.membership(users[0])).current_period_end + timedelta(days=1))
    other = w.container.use_cases.renew_memberships()
    other.batch_size = w.renew.batch_size = 3
    await asyncio.gather(w.renew(), other(), w.renew())
    for user in users:
        [renewal] = await w.renewals(user)
        renewal = await w.queries.transaction(renewal.id)
        assert renewal.status is TransactionStatus.SUCCEEDED and charges_at_mock(w, renewal) == 1, user


async def test_the_store_refuses_a_second_renewal_for_the_same_period(w):
    await w.on_plan("pro")
    now = w.clock.now()
    end = (await w.membership(USER)).current_period_end

    def renewal(id: str) -> Transaction:
        from domain.catalog import PlanId
        from domain.money import CNY, Money
        return Transaction.plan_renewal(id=id, order_id=f"P{id}0000", user_id=USER, plan_from=PlanId.PRO,
                                        plan_to=PlanId.PRO, price=Money(2900, CNY), period_start=end,
                                        payment_method=None, provider=None, now=now)
    async with w.uow() as uow:
        await uow.transactions.add(renewal("txn_a"))
        with pytest.raises(DuplicateKeyError):
            await uow.transactions.add(renewal("txn_b"))
        await uow.commit()


def events_world() -> Renewals:
    from entrypoints.config import load_config
    import world as world_module

    original = world_module.load_config

    def with_events(environ):
        return load_config({**environ, "PAYMENTS_EVENTS_URL": "http://events.test/in",
                            "PAYMENTS_EVENTS_SECRET": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    world_module.load_config = with_events
    try:
        return Renewals()
    finally:
        world_module.load_config = original


# ---------------------------------------------------------------------------- the renewal method deleted
async def test_deleting_the_renewal_method_falls_back_to_reminders(w):
    await w.on_plan("pro")
    method = await w.save_card("ok")
    assert (await w.auto_renew()).renewal_method_id == method
    await w.container.use_cases.delete_saved_method()(USER, method)
    membership = await w.membership(USER)
    assert (membership.auto_renew, membership.renewal_method_id) == (True, None)
    end = membership.current_period_end
    w.at(end - 3 * DAY)
    await w.renew()
    renewal = await w.renewal()
    assert renewal.status is TransactionStatus.PENDING and not renewal.sessions  # a reminder, nothing charged


# ---------------------------------------------------------------------------- prices
async def test_a_renewal_is_priced_by_the_users_price_variant(w):
    from domain.experiment import ExperimentStatus, PriceVariant, assign
    from ports.use_cases.experiments.admin import CreateExperimentCommand

    variants = (PriceVariant("control", 50), PriceVariant("cheaper", 50, plan_prices=(("pro", 2500),)))
    user = next(f"user-{n}" for n in range(10_000) if assign("renew-2027", f"user-{n}", variants).id == "cheaper")
    await w.container.use_cases.create_experiment()(CreateExperimentCommand("renew-2027", variants, "admin", "req"))
    await w.container.use_cases.change_experiment_status()("renew-2027", ExperimentStatus.RUNNING, admin="admin")
    await w.on_plan("pro", user)
    await w.auto_renew(user=user)
    w.at((await w.membership(user)).current_period_end - 3 * DAY)
    await w.renew()
    renewal = await w.renewal(user)
    assert (renewal.total.amount, renewal.price_variant) == (2500, "renew-2027/cheaper")


async def test_no_plan_change_while_the_renewal_is_unpaid(w):
    await w.on_plan("pro")
    await w.auto_renew()
    w.at((await w.membership(USER)).current_period_end + DAY)
    assert (await w.membership(USER)).status == "past_due"
    for plan, method in (("vip", "mock"), ("basic", None)):
        with pytest.raises(InvalidTransitionError):
            await w.change_plan(ChangePlanCommand(USER, plan, method))
    assert (await w.membership(USER)).plan == "pro"


async def test_a_membership_whose_renewal_fails_is_put_off_without_holding_the_others_back(w):
    from ports.use_cases.renewals.renew_memberships import ERROR_BACKOFF

    for user in ("broken", "fine"):
        await w.on_plan("pro", user)
        await w.save_card("ok", user, method_id=f"spm_{user}")
        await w.auto_renew(user=user)
    charges = w.renew._charges

    class FailingForBroken:  # the renewal methods of every user but one, whose read fails (a bug)
        def __getattr__(self, name):
            return getattr(charges, name)

        async def usable(self, uow, user_id, method_id):
            if user_id == "broken":
                raise RuntimeError("a bug")
            return await charges.usable(uow, user_id, method_id)
    w.renew._charges = FailingForBroken()
    w.at((await w.membership("fine")).current_period_end + timedelta(minutes=1))
    await w.renew()
    assert (await w.renewal("fine")).status is TransactionStatus.SUCCEEDED
    assert await w.renewals("broken") == []
    async with w.uow() as uow:
        broken = await uow.memberships.get("broken")
    assert broken.renewal_check_at == w.clock.now() + ERROR_BACKOFF
