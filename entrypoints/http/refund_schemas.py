"""marshmallow schemas of the refund and audit-log endpoints (requests validated like every other:
unknown fields refused, no coercion of types; responses described for the OpenAPI document)."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from domain.refund import RefundKind, RefundStatus
from entrypoints.http.schemas import (
    DateOrDateTime,
    PageSchema,
    QueryInteger,
    RequestSchema,
    SeparatedList,
    StrictInteger,
    StrictString,
)

REFUND_STATUSES = [s.value for s in RefundStatus]  # (the alias PENDING is not iterated)
REFUND_KINDS = [k.value for k in RefundKind]
_TXN_EXAMPLE = "txn_fd58dacddb45833b74e2f4df"
NO_NUL = "^[^\\u0000]*$"  # query strings never hold NUL (refused with 422), as the document says


# ---------------------------------------------------------------------------- requests
class RefundRequestSchema(RequestSchema):
    transaction_id = StrictString(required=True, validate=validate.Length(1, 64),
                                  metadata={"example": _TXN_EXAMPLE})
    reason = StrictString(required=True, validate=validate.Length(1, 500),
                          metadata={"description": "Why (1-500 characters).", "example": "bought by mistake"})
    receives = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(1, 100), metadata={
        "description": "Receive purchases only: how many to refund (default: as many as are left and unused).",
        "example": 5})


class AdminRefundRequestSchema(RequestSchema):
    transaction_id = StrictString(required=True, validate=validate.Length(1, 64),
                                  metadata={"example": _TXN_EXAMPLE})
    reason = StrictString(required=True, validate=validate.Length(1, 500),
                          metadata={"example": "goodwill: the match never started"})
    amount = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(1, 10**12), metadata={
        "description": "Minor units (fen) to refund; default all that is not yet refunded.", "example": 500})
    receives = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(1, 100), metadata={
        "description": "Receives to take back (receive purchases only); without it none are.", "example": None})


class ApproveRequestSchema(RequestSchema):
    note = StrictString(load_default=None, allow_none=True, validate=validate.Length(max=500),
                        metadata={"description": "Optional. The body itself may be left out.", "example": "ok"})


class RejectRequestSchema(RequestSchema):
    note = StrictString(required=True, validate=validate.Length(1, 500),
                        metadata={"description": "Required: why the refund is rejected.",
                                  "example": "the receives were used"})


class RefundQuoteQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    transaction_id = fields.String(required=True, validate=validate.Length(1, 64),
                                   metadata={"example": _TXN_EXAMPLE, "pattern": NO_NUL})
    receives = QueryInteger(load_default=None, validate=validate.Range(1, 100), metadata={
        "description": "Receive purchases only: how many to price (default: as many as are refundable)."})


class RefundListQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    status = SeparatedList(fields.String(validate=validate.OneOf(REFUND_STATUSES)), load_default=list,
                           metadata={"description": "Repeatable or comma-separated."})
    page = QueryInteger(load_default=None, validate=validate.Range(min=1, max=1_000_000),
                        metadata={"description": "1 when omitted. Not with starting_after."})
    limit = QueryInteger(load_default=20, validate=validate.Range(1, 100))
    starting_after = fields.String(load_default=None, metadata={
        "description": "Cursor: the id of a refund of this list; answers the ones after it, in the list's order, "
                       "as {items, has_more, next_cursor}. Not with page.", "example": None})


class AdminRefundListQuerySchema(RefundListQuerySchema):
    kind = SeparatedList(fields.String(validate=validate.OneOf(REFUND_KINDS)), load_default=list,
                         metadata={"description": "Repeatable or comma-separated."})
    user_id = fields.String(load_default=None, validate=validate.Length(1, 255), metadata={"pattern": NO_NUL})
    provider = fields.String(load_default=None, validate=validate.Length(1, 32), metadata={"pattern": NO_NUL})
    date_from = DateOrDateTime(load_default=None, metadata={
        "type": "string", "description": "Inclusive, on created_at: an ISO date or date-time."})
    date_to = DateOrDateTime(end_of_day=True, load_default=None, metadata={
        "type": "string", "description": "Inclusive; a date includes that whole UTC day."})
    sort = fields.String(load_default="-created_at", validate=validate.OneOf(["created_at", "-created_at"]),
                         metadata={"description": "`created_at`: oldest first (the review queue); "
                                                  "`-created_at`: newest first (default)."})


class AuditLogQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    actor = fields.String(load_default=None, validate=validate.Length(1, 255), metadata={"pattern": NO_NUL})
    object_id = fields.String(load_default=None, validate=validate.Length(1, 64), metadata={"pattern": NO_NUL})
    action = fields.String(load_default=None, validate=validate.Length(1, 64),
                           metadata={"example": None, "pattern": NO_NUL})
    date_from = DateOrDateTime(load_default=None, metadata={"type": "string"})
    date_to = DateOrDateTime(end_of_day=True, load_default=None, metadata={"type": "string"})
    page = QueryInteger(load_default=None, validate=validate.Range(min=1, max=1_000_000),
                        metadata={"description": "1 when omitted. Not with starting_after."})
    limit = QueryInteger(load_default=20, validate=validate.Range(1, 100))
    starting_after = fields.String(load_default=None, metadata={
        "description": "Cursor: the id of an entry; answers the older ones as {items, has_more, next_cursor}. "
                       "Not with page.", "example": None})


# ---------------------------------------------------------------------------- responses
class RefundSchema(Schema):
    id = fields.String(required=True)
    transaction_id = fields.String(required=True)
    order_id = fields.String(required=True, metadata={"description": "The refund's number at the provider."})
    kind = fields.String(required=True, validate=validate.OneOf(REFUND_KINDS))
    status = fields.String(required=True, validate=validate.OneOf(REFUND_STATUSES))
    amount = fields.Integer(required=True, metadata={"description": "Minor units (fen)."})
    currency = fields.String(required=True)
    receives = fields.Integer(required=True, allow_none=True)
    ends_plan = fields.Boolean(required=True)
    reason = fields.String(required=True)
    requested_by = fields.String(required=True, allow_none=True)
    reviewed_by = fields.String(required=True, allow_none=True)
    review_note = fields.String(required=True, allow_none=True)
    failure_reason = fields.String(required=True, allow_none=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    reviewed_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    completed_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})


class AdminRefundSchema(RefundSchema):
    user_id = fields.String(required=True)
    provider = fields.String(required=True)


class RefundQuoteSchema(Schema):
    transaction_id = fields.String(required=True)
    amount = fields.Integer(required=True, metadata={"example": 850})
    currency = fields.String(required=True, metadata={"example": "CNY"})
    receives = fields.Integer(required=True, allow_none=True, metadata={"example": 5})
    ends_plan = fields.Boolean(required=True, metadata={"example": False})


class RefundListSchema(PageSchema):
    items = fields.List(fields.Nested(RefundSchema), required=True)


class AdminRefundListSchema(RefundListSchema):
    items = fields.List(fields.Nested(AdminRefundSchema), required=True)


class AuditEntrySchema(Schema):
    id = fields.String(required=True)
    actor = fields.String(required=True)
    action = fields.String(required=True)
    object_type = fields.String(required=True)
    object_id = fields.String(required=True)
    details = fields.Dict(required=True)
    request_id = fields.String(required=True, allow_none=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})


class AuditLogSchema(PageSchema):
    items = fields.List(fields.Nested(AuditEntrySchema), required=True)
