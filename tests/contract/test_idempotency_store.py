"""The contract of the idempotency store (`ports.idempotency.IdempotencyStore`): the first
request claims its key, a repeat while it runs is refused as in progress, the same key with
another body is refused as reused, a completed request is replayed byte for byte, an abandoned
claim is taken over when its lease runs out (and the slow original can then neither complete nor
release it), keys are scoped to user and endpoint, and old keys are purged by creation time.
"""
from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from contract_support import HOUR, T0, Backend
from domain.errors import IdempotencyKeyReusedError, IdempotencyRequestInProgressError
from ports.idempotency import IdempotencyClaim, IdempotencyScope, StoredResponse

SCOPE = IdempotencyScope("alice", "POST /api/v1/payments/receives", "key-1")
LEASE = timedelta(seconds=30)
RESPONSE = StoredResponse(201, b'{"transaction": {"id": "txn_1"}}\xff', {"Content-Type": "application/json"})


async def claim(backend: Backend, scope=SCOPE, fingerprint="fp-1", now=T0) -> IdempotencyClaim:
    claimed = await backend.idempotency.begin(scope, fingerprint, now, LEASE)
    assert isinstance(claimed, IdempotencyClaim) and claimed.scope == scope
    return claimed


async def test_the_first_request_claims_its_key(backend: Backend) -> None:
    await claim(backend)


async def test_a_repeat_while_the_first_runs_is_in_progress(backend: Backend) -> None:
    await claim(backend)
    with pytest.raises(IdempotencyRequestInProgressError):
        await backend.idempotency.begin(SCOPE, "fp-1", T0 + LEASE - timedelta(microseconds=1), LEASE)


async def test_the_same_key_with_another_body_is_reused(backend: Backend) -> None:
    first = await claim(backend)
    with pytest.raises(IdempotencyKeyReusedError):
        await backend.idempotency.begin(SCOPE, "fp-2", T0, LEASE)
    assert await backend.idempotency.complete(first, RESPONSE, T0)
    with pytest.raises(IdempotencyKeyReusedError):
        await backend.idempotency.begin(SCOPE, "fp-2", T0 + HOUR, LEASE)


async def test_a_completed_request_is_replayed_byte_for_byte(backend: Backend) -> None:
    first = await claim(backend)
    assert await backend.idempotency.complete(first, RESPONSE, T0 + timedelta(seconds=1))
    replayed = await backend.idempotency.begin(SCOPE, "fp-1", T0 + HOUR, LEASE)
    assert replayed == RESPONSE
    assert isinstance(replayed.body, bytes)


async def test_a_claim_whose_lease_ran_out_is_taken_over(backend: Backend) -> None:
    await claim(backend)
    await claim(backend, now=T0 + LEASE)  # taken over
    with pytest.raises(IdempotencyRequestInProgressError):  # and held again by the new owner
        await backend.idempotency.begin(SCOPE, "fp-1", T0 + LEASE + timedelta(seconds=1), LEASE)


async def test_a_claim_taken_over_can_no_longer_complete_or_release(backend: Backend) -> None:
    original = await claim(backend)
    successor = await claim(backend, now=T0 + LEASE)
    assert not await backend.idempotency.complete(original, RESPONSE, T0 + LEASE)  # the slow original
    await backend.idempotency.release(original)
    with pytest.raises(IdempotencyRequestInProgressError):  # the successor still holds it
        await backend.idempotency.begin(SCOPE, "fp-1", T0 + LEASE + timedelta(seconds=1), LEASE)
    assert await backend.idempotency.complete(successor, RESPONSE, T0 + LEASE)
    assert await backend.idempotency.begin(SCOPE, "fp-1", T0 + HOUR, LEASE) == RESPONSE


async def test_keys_are_scoped_to_user_and_endpoint(backend: Backend) -> None:
    await claim(backend)
    for scope in (attrs.evolve(SCOPE, user_id="bob"), attrs.evolve(SCOPE, endpoint="POST /api/v1/payments/plan"),
                  attrs.evolve(SCOPE, key="key-2")):
        await claim(backend, scope, "fp-other")


async def test_a_released_key_can_be_used_again_even_with_another_body(backend: Backend) -> None:
    first = await claim(backend)
    await backend.idempotency.release(first)
    await backend.idempotency.release(first)  # releasing twice is harmless
    await claim(backend, fingerprint="fp-2")


async def test_completing_a_claim_nobody_holds_stores_nothing(backend: Backend) -> None:
    assert not await backend.idempotency.complete(IdempotencyClaim(SCOPE, T0 + LEASE), RESPONSE, T0)
    await claim(backend)  # the scope is still free


async def test_purge_deletes_keys_created_before_the_cutoff(backend: Backend) -> None:
    old = [attrs.evolve(SCOPE, key=f"old-{n}") for n in range(3)]
    claims = [await claim(backend, scope, "fp") for scope in old]
    assert await backend.idempotency.complete(claims[0], RESPONSE, T0)
    await claim(backend, now=T0 + 24 * HOUR)
    assert await backend.idempotency.purge(T0 + 24 * HOUR) == 3
    assert await backend.idempotency.purge(T0 + 24 * HOUR) == 0
    await claim(backend, old[0], "fp-new", now=T0 + 25 * HOUR)  # forgotten
    with pytest.raises(IdempotencyRequestInProgressError):  # kept
        await backend.idempotency.begin(SCOPE, "fp-1", T0 + 24 * HOUR, LEASE)


async def test_a_takeover_keeps_the_original_creation_time_for_purging(backend: Backend) -> None:
    await claim(backend)
    await claim(backend, now=T0 + HOUR)  # lease ran out: taken over
    assert await backend.idempotency.purge(T0 + timedelta(minutes=1)) == 1
