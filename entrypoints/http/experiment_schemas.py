"""marshmallow schemas of the price experiment admin endpoints (docs/experiments.md): requests
validated like every other (unknown fields refused, no coercion), responses described for the
OpenAPI document. What the domain checks beyond shapes (plan order, a purchase costing at least one
minor unit, tiers never discounting less as quantities grow) answers 422 from the domain."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from domain.experiment import MAX_VARIANTS, MAX_WEIGHT
from entrypoints.http.schemas import RequestSchema, StrictInteger, StrictString

ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]*$"
STATUSES = ["draft", "running", "stopped"]


class ExperimentTierSchema(RequestSchema):
    min_amount = StrictInteger(required=True, validate=validate.Range(1, 100), metadata={"example": 5})
    discount_percent = StrictInteger(required=True, validate=validate.Range(0, 99), metadata={"example": 10})


class ReceivesOverrideSchema(RequestSchema):
    unit_price = StrictInteger(validate=validate.Range(min=1, max=10_000_000),
                               metadata={"description": "Price of one receive in minor units (fen).", "example": 180})
    tiers = fields.List(fields.Nested(ExperimentTierSchema), validate=validate.Length(max=10),
                        metadata={"description": "Replaces the catalog's tiers (by increasing min_amount, discounts "
                                                 "never smaller for bigger tiers; `[]`: no discounts)."})


class PlanPricesSchema(RequestSchema):
    pro = StrictInteger(validate=validate.Range(min=1, max=10_000_000), metadata={"example": 2500})
    vip = StrictInteger(validate=validate.Range(min=1, max=10_000_000), metadata={"example": 5900})


class VariantSchema(RequestSchema):
    id = StrictString(required=True, validate=[validate.Length(1, 32), validate.Regexp(ID_PATTERN)],
                      metadata={"example": "cheaper"})
    weight = StrictInteger(required=True, validate=validate.Range(1, MAX_WEIGHT),
                           metadata={"description": "Share of the users: weight ÷ the sum of the weights.",
                                     "example": 50})
    receives = fields.Nested(ReceivesOverrideSchema, metadata={"description": "Overrides of the receive pricing; "
                                                                              "what it omits stays the catalog's."})
    plans = fields.Nested(PlanPricesSchema, metadata={"description": "Monthly prices of paid plans (fen); a plan it "
                                                                     "omits keeps the catalog's price. Each paid plan "
                                                                     "must still cost more than the one below it."})


class CreateExperimentSchema(RequestSchema):
    id = StrictString(required=True, validate=[validate.Length(1, 64), validate.Regexp(ID_PATTERN)],
                      metadata={"description": "Chosen by the admin; never reused.", "example": "receives-2027q1"})
    variants = fields.List(fields.Nested(VariantSchema), required=True, validate=validate.Length(2, MAX_VARIANTS),
                           metadata={"description": "The first is the control the others are tested against."})


CREATE_EXAMPLE = {"id": "receives-2027q1", "variants": [
    {"id": "control", "weight": 50},
    {"id": "cheaper", "weight": 50, "receives": {"unit_price": 180}, "plans": {"pro": 2500}}]}


class ExperimentTierOutSchema(Schema):
    min_amount = fields.Integer(required=True)
    discount_percent = fields.Integer(required=True)


class ReceivesOverrideOutSchema(Schema):
    unit_price = fields.Integer()
    tiers = fields.List(fields.Nested(ExperimentTierOutSchema))


class PlanPricesOutSchema(Schema):
    pro = fields.Integer()
    vip = fields.Integer()


class VariantOutSchema(Schema):
    id = fields.String(required=True)
    weight = fields.Integer(required=True)
    receives = fields.Nested(ReceivesOverrideOutSchema, metadata={"description": "Present when it overrides the "
                                                                                 "receive pricing."})
    plans = fields.Nested(PlanPricesOutSchema, metadata={"description": "Present when it reprices plans."})


class ExperimentSchema(Schema):
    id = fields.String(required=True, metadata={"example": "receives-2027q1"})
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    variants = fields.List(fields.Nested(VariantOutSchema), required=True)


class VariantResultSchema(Schema):
    id = fields.String(required=True, metadata={"example": "cheaper"})
    exposed = fields.Integer(required=True, metadata={"description": "Users shown or charged its prices."})
    paying = fields.Integer(required=True, metadata={
        "description": "Exposed users with a paid transaction priced by this variant since their exposure."})
    conversion_bps = fields.Integer(required=True, metadata={"description": "paying ÷ exposed in basis points, "
                                                                            "half-up."})
    gross = fields.Integer(required=True, metadata={"description": "Sum of those transactions' totals (fen)."})
    revenue_per_exposed = fields.Integer(required=True, metadata={"description": "gross ÷ exposed in whole fen, "
                                                                                 "half-up."})
    p_value = fields.Float(required=True, allow_none=True, metadata={
        "description": "Two-sided p-value of a pooled two-proportion z-test of its conversion against the first "
                       "variant's; null for the first (and while either has nobody exposed). A statistic, not money.",
        "example": 0.0421})


class ExperimentResultsSchema(Schema):
    id = fields.String(required=True, metadata={"example": "receives-2027q1"})
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    variants = fields.List(fields.Nested(VariantResultSchema), required=True)
