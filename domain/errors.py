"""The service's error tree. Domain code raises these; only entrypoints map them to HTTP.

Each error carries a stable machine `code` (the contract's error codes); `details` maps a field
to its messages where the error is about input.

    PaymentsError
    ├── DomainValidationError            validation_error        bad input the domain refused
    ├── CurrencyMismatchError            validation_error        Money of two currencies combined
    ├── NotFoundError                    not_found
    │   ├── TransactionNotFoundError
    │   ├── SessionNotFoundError
    │   └── ProviderNotFoundError        (no such provider plugin, e.g. in a webhook path)
    ├── ConflictError                    (a state conflict; nothing changed)
    │   ├── InvalidTransitionError       invalid_state
    │   ├── PlanUnchangedError           plan_unchanged
    │   ├── TooManyPendingError          too_many_pending
    │   ├── InsufficientReceivesError    insufficient_receives
    │   └── IdempotencyRequestInProgressError   idempotency_request_in_progress
    ├── IdempotencyKeyReusedError        idempotency_key_reused
    ├── PaymentMethodUnavailableError    payment_method_unavailable
    └── ProviderError                    provider_error          the provider refused or failed
        ├── ProviderUnavailableError     provider_unavailable    timeout or 5xx: outcome unknown
        └── InvalidSignatureError        unauthorized            a notification failed verification
"""
from __future__ import annotations

from collections.abc import Mapping


class PaymentsError(Exception):
    """Base of every error this service raises on purpose."""

    code = "internal_error"

    def __init__(self, message: str, details: Mapping[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})


class DomainValidationError(PaymentsError):
    """Input that is well-formed but wrong: out of range, unknown value."""

    code = "validation_error"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, {field: [message]} if field else None)
        self.field = field


class CurrencyMismatchError(PaymentsError):
    code = "validation_error"

    def __init__(self, left: str, right: str) -> None:
        super().__init__(f"Cannot combine {left} with {right}.")


class NotFoundError(PaymentsError):
    code = "not_found"


class TransactionNotFoundError(NotFoundError):
    def __init__(self, transaction_id: str) -> None:
        super().__init__(f"Transaction {transaction_id} not found.")


class SessionNotFoundError(NotFoundError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"Payment session {session_id} not found.")


class ProviderNotFoundError(NotFoundError):
    def __init__(self, provider: str) -> None:
        super().__init__(f"No payment provider named {provider!r}.")


class ConflictError(PaymentsError):
    """The request conflicts with the current state; nothing was changed."""


class InvalidTransitionError(ConflictError):
    code = "invalid_state"

    def __init__(self, kind: str, current: str, target: str, message: str | None = None) -> None:
        super().__init__(message or f"A {kind} cannot move from {current} to {target}.")
        self.current = current
        self.target = target


class PlanUnchangedError(ConflictError):
    code = "plan_unchanged"

    def __init__(self, plan: str) -> None:
        super().__init__(f"You are already on the {plan} plan and no change is scheduled.")


class TooManyPendingError(ConflictError):
    code = "too_many_pending"

    def __init__(self, limit: int) -> None:
        super().__init__(f"At most {limit} pending transactions are allowed; pay or cancel one first.")


class InsufficientReceivesError(ConflictError):
    code = "insufficient_receives"

    def __init__(self, requested: int, balance: int) -> None:
        super().__init__(f"Cannot consume {requested} receives: the balance is {balance}.")
        self.requested = requested
        self.balance = balance


class IdempotencyRequestInProgressError(ConflictError):
    code = "idempotency_request_in_progress"

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still being processed.")


class IdempotencyKeyReusedError(PaymentsError):
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was used with a different request body.")


class PaymentMethodUnavailableError(PaymentsError):
    code = "payment_method_unavailable"

    def __init__(self, method: str) -> None:
        super().__init__(
            f"Payment method {method!r} is not available right now.", {"payment_method": ["Not available."]}
        )


class ProviderError(PaymentsError):
    """The payment provider refused the call or answered something unusable."""

    code = "provider_error"


class ProviderUnavailableError(ProviderError):
    """Timeout, connection failure or 5xx: the outcome is unknown; query before retrying."""

    code = "provider_unavailable"


class InvalidSignatureError(ProviderError):
    """A notification's signature is missing, wrong or stale."""

    code = "unauthorized"


class RefundNotFoundError(ProviderError):
    """The provider has no refund with this refund number (it never accepted it): sending it
    again with the same number is safe."""

    code = "refund_not_found"


class SavedMethodNotFoundError(NotFoundError):
    def __init__(self, saved_method_id: str) -> None:
        super().__init__(f"Saved payment method {saved_method_id} not found.")
