"""What the renewal job needs of saved methods, as a small port of its own: which saved method a
user may renew with, and charging one off-session for a renewal. The saved-methods use cases
(`ports.use_cases.saved_methods`) implement it (`SavedMethodRenewals`); the job's tests may give
it a fake. Kept apart so the job depends on two calls, not on how methods are kept or charged."""
from __future__ import annotations

from typing import Protocol

import attrs

from domain.transaction import Transaction
from ports.unit_of_work import UnitOfWork


@attrs.frozen
class RenewalMethod:
    id: str               # spm_…
    provider: str         # the plugin that holds it
    payment_method: str   # the method id it pays with


class RenewalCharges(Protocol):
    async def usable(self, uow: UnitOfWork, user_id: str, method_id: str) -> RenewalMethod | None:
        """The user's saved method `method_id` if it can still be charged (not deleted, its
        provider loaded and saving methods); None otherwise. Read in the caller's unit of work."""
        ...

    async def default_method(self, uow: UnitOfWork, user_id: str) -> str | None:
        """The id of the user's default saved method, if any."""
        ...

    def open_attempt(self, transaction: Transaction, method: RenewalMethod) -> str:
        """Open the off-session attempt of the pending `transaction` (in the caller's unit of work,
        which stores and commits it); its session id."""
        ...

    async def charge(self, transaction_id: str, session_id: str) -> None:
        """Charge the committed open attempt (outside any unit of work), with the attempt's own
        order id as the provider's idempotency key, and apply the answer: paid (delivered like any
        payment), declined (the attempt fails, the renewal stays pending), pending (settled later),
        or a session opened for the payer. `ProviderError`s whose outcome is unknown are raised:
        charging the same attempt again never charges twice."""
        ...
