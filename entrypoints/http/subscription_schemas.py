"""marshmallow schemas of `POST /api/v1/payments/subscription` (docs/renewals.md): auto-renewal on
or off, with an optional saved method. The answer is the Membership (`schemas.MembershipSchema`)."""
from __future__ import annotations

from marshmallow import fields, validate

from entrypoints.http.schemas import RequestSchema, StrictString


class StrictBoolean(fields.Boolean):
    """A JSON true or false: "true", 1 and null are refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class SubscriptionRequestSchema(RequestSchema):
    auto_renew = StrictBoolean(required=True, metadata={
        "description": "Renew the paid plan at each period end (false: it lapses to basic then).", "example": True})
    saved_method_id = StrictString(load_default=None, allow_none=True, validate=validate.Length(1, 64), metadata={
        "description": "The saved method renewals charge off-session. Default: the user's default saved "
                       "method if any, else none (each renewal is then opened PAYMENTS_RENEWAL_NOTICE_DAYS "
                       "before the period end, to be paid through a session). Unknown, deleted or someone "
                       "else's → 404.",
        "example": "spm_3f1c9a0d2b7e4c51a8f6e0d9"})
