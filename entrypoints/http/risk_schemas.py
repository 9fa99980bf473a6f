"""marshmallow schemas of the risk admin endpoints (docs/risk.md): requests validated like every
other (unknown fields refused, no coercion), responses described for the OpenAPI document."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from domain.risk import RiskRule
from entrypoints.http.schemas import QueryInteger, RequestSchema, StrictString

RULES = [rule.value for rule in RiskRule]
NO_NUL = "^[^\\u0000]*$"


class RiskFlagListQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    user_id = fields.String(load_default=None, validate=validate.Length(1, 255), metadata={"pattern": NO_NUL})
    rule = fields.String(load_default=None, validate=validate.OneOf(RULES))
    resolved = fields.String(load_default=None, validate=validate.OneOf(["true", "false"]),
                             metadata={"description": "`true`: resolved flags only; `false`: open ones only."})
    page = QueryInteger(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = QueryInteger(load_default=20, validate=validate.Range(1, 100))


class ResolveFlagSchema(RequestSchema):
    note = StrictString(load_default=None, allow_none=True, validate=validate.Length(0, 1000),
                        metadata={"description": "What the admin found (kept with the flag and in the audit log).",
                                  "example": "same household, legitimate"})


class BlockUserSchema(RequestSchema):
    reason = StrictString(load_default=None, allow_none=True, validate=validate.Length(0, 1000),
                          metadata={"example": "chargeback fraud"})


class UnblockUserSchema(RequestSchema):
    pass


class RiskFlagSchema(Schema):
    id = fields.String(required=True, metadata={"example": "rk_0f6c1d2e3a4b5c6d7e8f9a0b"})
    user_id = fields.String(required=True, metadata={"example": "alice"})
    rule = fields.String(required=True, validate=validate.OneOf(RULES))
    details = fields.Dict(required=True, metadata={"description": "What the rule saw, by rule: daily_amount "
                                                   "{paid_last_24h, amount, limit}; failed_attempts {failed_last_hour, "
                                                   "limit}; refund_abuse {refund_requests_30d}; linked_payer {payer "
                                                   "(the start of its keyed hash), users (the first 20 by id), "
                                                   "users_total}.",
                                                   "example": {"paid_last_24h": 45000, "amount": 5900,
                                                               "limit": 50000}})
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    resolved_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    resolved_by = fields.String(required=True, allow_none=True)
    note = fields.String(required=True, allow_none=True)


class RiskFlagPageSchema(Schema):
    items = fields.List(fields.Nested(RiskFlagSchema), required=True)
    page = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    total = fields.Integer(required=True)
    has_more = fields.Boolean(required=True)


class BlockStateSchema(Schema):
    user_id = fields.String(required=True, metadata={"example": "alice"})
    blocked = fields.Boolean(required=True)
