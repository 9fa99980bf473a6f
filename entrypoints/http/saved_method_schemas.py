"""The OpenAPI schemas of saved payment methods (docs/saved-methods.md): the contract's
SavedMethod and the list of them."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from entrypoints.http.schemas import METHOD_IDS

SAVED_METHOD_EXAMPLE = {
    "id": "spm_4f1c2e9a7b3d5e6f8a0b1c2d", "payment_method": "credit_card", "provider": "mock",
    "label": "Mock card •••• 4242", "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030,
    "is_default": True, "created_at": "2026-11-27T04:58:47Z"}


class SavedMethodSchema(Schema):
    """A payment method kept at its provider (a token there, never a card number)."""

    id = fields.String(required=True, metadata={"example": SAVED_METHOD_EXAMPLE["id"]})
    payment_method = fields.String(required=True, validate=validate.OneOf(METHOD_IDS),
                                   metadata={"example": "credit_card"})
    provider = fields.String(required=True, metadata={"example": "mock"})
    label = fields.String(required=True, metadata={"example": "Mock card •••• 4242"})
    brand = fields.String(required=True, allow_none=True, metadata={"example": "visa"})
    last4 = fields.String(required=True, allow_none=True, metadata={"example": "4242"})
    exp_month = fields.Integer(required=True, allow_none=True, metadata={"example": 12})
    exp_year = fields.Integer(required=True, allow_none=True, metadata={"example": 2030})
    is_default = fields.Boolean(required=True, metadata={
        "description": "The method renewals and one-click purchases default to (the first one saved is)."})
    created_at = fields.String(required=True, metadata={"format": "date-time", "example": "2026-11-27T04:58:47Z"})


class SavedMethodListSchema(Schema):
    items = fields.List(fields.Nested(SavedMethodSchema), required=True, metadata={
        "description": "Newest first; deleted methods are not listed."})
