"""Which events a committed change writes to the outbox (`entrypoints.event_payloads`), through
the service's own use cases over the in-memory adapters with PAYMENTS_EVENTS_URL set: a paid
purchase, consumption, a refund requested, approved and paid back, a refund that fails; none for
a change that did not commit, none at all without the URL. The `data` of each is the API's own
representation of the object as that unit of work committed it."""
from __future__ import annotations

import json

import pytest

import world as world_module
from builders import buy_and_pay, detail
from domain.errors import ProviderError
from domain.outbox import OutboxStatus
from entrypoints.config import load_config
from entrypoints.http import render
from events_receiver import new_secret
from ports.use_cases.plans.consume_receives import ConsumeReceivesCommand
from ports.use_cases.refunds.request_refund import RequestRefundCommand
from ports.use_cases.refunds.review_refund import ReviewCommand
from ports.use_cases.views import MembershipView
from world import World

PURCHASE = ["transaction.succeeded", "membership.updated"]  # the membership merely made: no event


@pytest.fixture
def events_on(monkeypatch):
    """World builds its container from a configuration with events on."""
    secret = new_secret()
    monkeypatch.setattr(world_module, "load_config", lambda environ: load_config(
        {**environ, "PAYMENTS_EVENTS_URL": "http://backend.test/events", "PAYMENTS_EVENTS_SECRET": secret}))


def written(world: World) -> list[dict]:
    assert all(e.status is OutboxStatus.PENDING for e in world.store.outbox)
    return [json.loads(e.body) for e in world.store.outbox]


def types(world: World) -> list[str]:
    return [e["type"] for e in written(world)]


async def test_a_paid_purchase_writes_the_transaction_then_the_membership(events_on):
    world = World()
    paid = await buy_and_pay(world, "alice", 10)
    assert types(world) == PURCHASE
    succeeded, updated = written(world)
    assert succeeded["data"] == {"user_id": "alice", "transaction": render.transaction(
        (await detail(world, "alice", paid.transaction.id)).transaction)}
    assert updated["data"] == {"user_id": "alice", **render.membership(await world.membership("alice"))}
    assert {e["id"] for e in written(world)} == {e.id for e in world.store.outbox}
    assert all(e.user_id == "alice" for e in world.store.outbox)
    assert succeeded["timestamp"] == "2026-01-31T10:00:00Z"


async def test_consumption_writes_the_new_balance_and_a_refused_one_writes_nothing(events_on):
    world = World()
    await buy_and_pay(world, "alice", 10)
    await world.consume_receives(ConsumeReceivesCommand("alice", 2, "like-1"))
    assert types(world)[-1] == "membership.updated"
    assert written(world)[-1]["data"]["receives"]["balance"] == 11
    before = len(world.store.outbox)
    with pytest.raises(Exception):
        await world.consume_receives(ConsumeReceivesCommand("alice", 500, "like-2"))
    assert len(world.store.outbox) == before  # rolled back: nothing reported


async def test_a_refund_requested_approved_and_paid_back(events_on):
    world = World()
    paid = await buy_and_pay(world, "alice", 10)
    requested = await world.request_refund(RequestRefundCommand("alice", paid.transaction.id, "by mistake", 4))
    after_request = types(world)[len(PURCHASE):]
    assert after_request[0] == "refund.requested"
    refund_event = written(world)[len(PURCHASE)]
    assert refund_event["data"]["user_id"] == "alice"
    assert refund_event["data"]["refund"]["id"] == requested.id
    assert refund_event["data"]["refund"]["status"] == "requested"
    assert after_request == ["refund.requested", "membership.updated"]
    assert written(world)[-1]["data"]["receives"]["purchased_remaining"] == 6  # 4 held for the refund

    mark = len(world.store.outbox)
    await world.review_refunds.approve(ReviewCommand("admin-1", requested.id, "ok"))
    later = types(world)[mark:]
    assert "refund.succeeded" in later and "transaction.refunded" in later, later
    assert later.index("transaction.refunded") < later.index("refund.succeeded")  # the cause first
    refunded = next(e for e in written(world)[mark:] if e["type"] == "transaction.refunded")
    assert refunded["data"]["transaction"]["status"] == "partially_refunded"
    assert refunded["data"]["transaction"]["refunded_amount"] > 0


async def test_a_refund_the_provider_refuses_writes_refund_failed_with_its_reason(events_on):
    world = World()
    paid = await buy_and_pay(world, "alice", 10)
    requested = await world.request_refund(RequestRefundCommand("alice", paid.transaction.id, "by mistake", 4))
    world.mock.inject_fault("refund", ProviderError("refused for now"))
    mark = len(world.store.outbox)
    await world.review_refunds.approve(ReviewCommand("admin-1", requested.id, "ok"))
    assert types(world)[mark:] == ["refund.failed"]  # to processing: no type; nothing refunded, no transaction.*
    failed = written(world)[-1]
    assert set(failed) == {"id", "type", "timestamp", "data"}
    assert set(failed["data"]) == {"user_id", "refund"}
    refund = failed["data"]["refund"]
    assert (failed["data"]["user_id"], refund["id"], refund["status"], refund["failure_reason"], refund["kind"]) == (
        "alice", requested.id, "failed", "refused_by_provider", "requested")
    assert refund["amount"] == 680 and refund["order_id"] == world.store.refunds[requested.id].refund_order_id


async def test_without_an_events_url_nothing_is_written():
    world = World()
    await buy_and_pay(world, "alice", 10)
    assert world.store.outbox == []


async def test_a_rejected_refund_gives_the_held_receives_back_in_a_membership_update(events_on):
    world = World()
    paid = await buy_and_pay(world, "alice", 10)
    requested = await world.request_refund(RequestRefundCommand("alice", paid.transaction.id, "by mistake", 4))
    mark = len(world.store.outbox)
    await world.review_refunds.reject(ReviewCommand("admin-1", requested.id, "used already"))
    assert types(world)[mark:] == ["membership.updated"]  # rejected: no refund.* type for it
    assert written(world)[-1]["data"]["receives"]["purchased_remaining"] == 10


async def test_a_membership_made_and_changed_at_once_is_reported(events_on):
    world = World()
    await world.consume_receives(ConsumeReceivesCommand("newcomer", 1, "like-1"))  # made, then consumed
    assert types(world) == ["membership.updated"]
    assert written(world)[0]["data"]["receives"]["balance"] == 2
