"""marshmallow schemas of the admin endpoints of the outbox (`/api/v1/admin/events…`): the list's
query and the event as an admin sees it (docs/events.md)."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from domain.outbox import EVENT_TYPES, OutboxStatus
from entrypoints.http.schemas import QueryInteger

EVENT_STATUSES = [s.value for s in OutboxStatus]
_BODY_EXAMPLE = ('{"id":"evt_3f1c…","type":"transaction.succeeded","timestamp":"2026-12-05T08:00:00Z",'
                 '"data":{"user_id":"alice","transaction":{…}}}')


class EventListQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    status = fields.String(load_default=None, validate=validate.OneOf(EVENT_STATUSES),
                           metadata={"description": "Only events in this state (default: all)."})
    page = QueryInteger(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = QueryInteger(load_default=20, validate=validate.Range(1, 100))


class OutboxEventSchema(Schema):
    id = fields.String(required=True, metadata={"description": "The `webhook-id` of every delivery.",
                                                "example": "evt_3f1c9a0d2b7e4c51a8f6e0d9c2b1a4f7"})
    type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    user_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(EVENT_STATUSES))
    attempts = fields.Integer(required=True, metadata={"description": "Deliveries tried so far."})
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    next_attempt_at = fields.String(required=True, allow_none=True, metadata={
        "format": "date-time", "description": "When a pending event is tried next (null otherwise)."})
    give_up_at = fields.String(required=True, allow_none=True, metadata={
        "format": "date-time", "description": "A pending event still undelivered then becomes `failed`."})
    delivered_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    last_error = fields.String(required=True, allow_none=True, metadata={
        "description": "Why the last attempt failed: `HTTP 503`, `timeout`, `transport error: ConnectError`."})
    body = fields.String(required=True, metadata={"description": "The JSON sent, byte for byte, on every attempt.",
                                                  "example": _BODY_EXAMPLE})


class OutboxEventListSchema(Schema):
    items = fields.List(fields.Nested(OutboxEventSchema), required=True)
    page = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    total = fields.Integer(required=True)
    has_more = fields.Boolean(required=True)
