"""The ids a request derives from its Idempotency-Key: keyed with the server's secret (nobody
can predict them from the user, the body and the key), and resumed only while the key could
still be replayed (a key reused after its record was purged makes a new purchase)."""
import hashlib

import pytest

from adapters.ids import RandomIdGenerator
from builders import all_transactions
from entrypoints.config import DEVELOPMENT_ID_SECRET, ConfigError, load_config
from ports.use_cases.payments.purchase_receives import PurchaseReceivesCommand
from ports.use_cases.payments.request_ids import RESUME_WINDOW
from world import World

SEED = "alice\x00purchase_receives/10/wechat_pay/None\x00key-1/txn"


def test_a_derived_id_is_a_keyed_hash_nobody_without_the_secret_can_compute():
    ids = RandomIdGenerator("s" * 32)

    derived = ids.derived_id("txn", SEED)

    assert derived == ids.derived_id("txn", SEED)  # a retry finds what its first attempt made
    assert derived != f"txn_{hashlib.sha256(SEED.encode()).hexdigest()[:24]}"  # not the unkeyed hash
    assert derived != RandomIdGenerator("t" * 32).derived_id("txn", SEED)
    assert ids.derived_order_id("S", SEED) != RandomIdGenerator("t" * 32).derived_order_id("S", SEED)


def test_the_id_secret_refuses_weak_or_development_keys_in_production_and_has_a_development_default():
    production = {"PAYMENTS_ENV": "production", "PAYMENTS_JWT_SECRET": "j" * 40}
    for weak in ("short", DEVELOPMENT_ID_SECRET):
        with pytest.raises(ConfigError, match="PAYMENTS_ID_SECRET"):
            load_config({**production, "PAYMENTS_ID_SECRET": weak})
    derived = load_config(production).id_secret  # unset: a key of its own from the JWT secret
    assert derived not in (DEVELOPMENT_ID_SECRET, "j" * 40) and len(derived) >= 32
    assert derived != load_config({**production, "PAYMENTS_JWT_SECRET": "k" * 40}).id_secret
    assert load_config({**production, "PAYMENTS_ID_SECRET": "i" * 40}).id_secret == "i" * 40
    assert load_config({}).id_secret
    assert "i" * 40 not in repr(load_config({"PAYMENTS_ID_SECRET": "i" * 40}))


def test_the_resume_window_is_shorter_than_the_24_hours_a_key_is_kept():
    from entrypoints.http.idempotency import RETENTION

    assert RESUME_WINDOW < RETENTION


async def test_a_key_reused_after_its_record_was_purged_makes_a_new_purchase():
    world = World()
    command = PurchaseReceivesCommand("alice", 10, "wechat_pay", request_key="key-1")
    first = await world.purchase_receives(command)
    await world.pay(first.session)

    world.advance(hours=25)  # the idempotency record is gone: this is another purchase
    again = await world.purchase_receives(command)
    retry = await world.purchase_receives(command)  # and that one's retry resumes it

    assert again.transaction.id != first.transaction.id and again.transaction.status == "pending"
    assert again.session.order_id != first.session.order_id and again.session.payment_url
    assert retry.transaction.id == again.transaction.id and retry.session.id == again.session.id
    assert len(await all_transactions(world)) == 2


async def test_a_retry_within_the_window_still_resumes():
    world = World()
    command = PurchaseReceivesCommand("alice", 10, "wechat_pay", request_key="key-1")
    first = await world.purchase_receives(command)

    world.advance(minutes=30)
    retry = await world.purchase_receives(command)

    assert retry.transaction.id == first.transaction.id
