"""marshmallow schemas of the operators' endpoints (`/api/v1/admin/users/…`, `/transactions`,
`/analytics/…`, `/providers`): their query strings (unknown parameters refused) and answers, for
validation and the OpenAPI document."""
from __future__ import annotations

from datetime import date
from zoneinfo import available_timezones

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from entrypoints.http.saved_method_schemas import SavedMethodSchema
from entrypoints.http.refund_schemas import AdminRefundSchema
from entrypoints.http.risk_schemas import RiskFlagSchema
from entrypoints.http.schemas import (
    METHOD_IDS,
    STATUSES,
    TYPES,
    DateOrDateTime,
    MembershipSchema,
    SeparatedList,
    TransactionSchema,
)
from ports.operations import Interval, OutcomeGroup, RevenueGroup
from ports.use_cases.operations.analytics import WINDOWS


class CalendarDay(fields.Field):
    """A calendar day: an ISO date (YYYY-MM-DD), or a date-time, which stands for the day it falls
    on in the request's time zone (the use case reads it there)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and len(value) == 10:
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise ValidationError("Must be an ISO 8601 date or date-time.") from None
        return DateOrDateTime()._deserialize(value, attr, data, **kwargs)


ZONES = sorted(available_timezones())
# What the document lists: the Area/City names and UTC. Aliases such as GMT0, GMT-0 and GMT+0, or
# Etc/GMT+1 and Etc/GMT-1, would make clashing enum members in generated clients; they are still
# accepted.
LISTED_ZONES = ["UTC", *(z for z in ZONES if "/" in z and not z.startswith(("Etc/", "SystemV/", "US/")))]
NO_NUL = "^[^\\u0000]*$"  # query strings never hold NUL (refused with 422), as the document says


def iana_zone(value: str) -> None:
    if value not in ZONES:
        raise ValidationError("Must be an IANA time zone, e.g. Asia/Shanghai.")


class AdminTransactionListQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    user_id = fields.String(load_default=None, validate=validate.Length(1, 255), metadata={"pattern": NO_NUL})
    provider = SeparatedList(fields.String(validate=validate.Length(max=32), metadata={"pattern": NO_NUL}),
                             load_default=list,
                             metadata={"description": "Repeatable or comma-separated."})
    payment_method = SeparatedList(fields.String(validate=validate.OneOf(METHOD_IDS)), load_default=list,
                                   metadata={"description": "Repeatable or comma-separated."})
    type = SeparatedList(fields.String(validate=validate.OneOf(TYPES)), load_default=list,
                         metadata={"description": "Repeatable or comma-separated."})
    status = SeparatedList(fields.String(validate=validate.OneOf(STATUSES)), load_default=list,
                           metadata={"description": "Repeatable or comma-separated."})
    date_from = DateOrDateTime(load_default=None, metadata={"type": "string", "description": "Inclusive, on created_at."})
    date_to = DateOrDateTime(end_of_day=True, load_default=None,
                             metadata={"type": "string", "description": "Inclusive; a date includes that whole UTC day."})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))


class RevenueQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    date_from = CalendarDay(load_default=None, metadata={
        "type": "string", "format": "date", "example": "2026-12-01",
        "description": "First calendar day in tz (inclusive; a date-time: the day it falls on in tz); "
                       "default 29 days before date_to."})
    date_to = CalendarDay(load_default=None, metadata={
        "type": "string", "format": "date", "example": "2026-12-07",
        "description": "Last calendar day in tz (inclusive; a date-time: the day it falls on in tz); "
                       "default today in tz. Before date_from: an empty series."})
    interval = fields.String(load_default=Interval.DAY.value, validate=validate.OneOf([i.value for i in Interval]))
    group_by = fields.String(load_default=RevenueGroup.TYPE.value,
                             validate=validate.OneOf([g.value for g in RevenueGroup]))
    tz = fields.String(load_default="UTC", validate=iana_zone,
                       metadata={"example": "Asia/Shanghai", "enum": LISTED_ZONES,
                                 "description": "An IANA time zone (aliases such as GMT0 are accepted too)."})


class SuccessRatesQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    window = fields.String(load_default="24h", validate=validate.OneOf(list(WINDOWS)))
    group_by = fields.String(load_default=OutcomeGroup.PROVIDER.value,
                             validate=validate.OneOf([g.value for g in OutcomeGroup]))


class AdminTransactionPageSchema(Schema):
    items = fields.List(fields.Nested(TransactionSchema), required=True)
    page = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    total = fields.Integer(required=True)
    has_more = fields.Boolean(required=True)


class AdminUserSchema(Schema):
    user_id = fields.String(required=True)
    membership = fields.Nested(MembershipSchema, required=True)
    transactions = fields.List(fields.Nested(TransactionSchema), required=True,
                               metadata={"description": "The latest 20, newest first."})
    refunds = fields.List(fields.Nested(AdminRefundSchema), required=True)
    saved_methods = fields.List(fields.Nested(SavedMethodSchema), required=True,
                                metadata={"description": "Not deleted, newest first."})
    risk_flags = fields.List(fields.Nested(RiskFlagSchema), required=True,
                             metadata={"description": "The user's newest 100 risk flags, open or resolved."})


class RevenueItemSchema(Schema):
    period_start = fields.String(required=True, metadata={"format": "date", "example": "2026-12-01"})
    group = fields.String(required=True, allow_none=True, metadata={"example": "pro"})
    gross = fields.Integer(required=True)
    refunded = fields.Integer(required=True)
    net = fields.Integer(required=True)
    transactions = fields.Integer(required=True)


class RevenueSchema(Schema):
    currency = fields.String(required=True)
    interval = fields.String(required=True)
    tz = fields.String(required=True)
    date_from = fields.String(required=True, metadata={"format": "date"})
    date_to = fields.String(required=True, metadata={"format": "date"})
    series = fields.List(fields.Nested(RevenueItemSchema), required=True)


class SuccessRateItemSchema(Schema):
    provider = fields.String(required=True, allow_none=True)
    payment_method = fields.String(required=True, allow_none=True)
    sessions = fields.Integer(required=True)
    completed = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    expired = fields.Integer(required=True)
    cancelled = fields.Integer(required=True)
    success_rate_bps = fields.Integer(required=True, allow_none=True)
    median_seconds_to_pay = fields.Integer(required=True, allow_none=True)


class SuccessRatesSchema(Schema):
    window = fields.String(required=True)
    items = fields.List(fields.Nested(SuccessRateItemSchema), required=True)


class RenewalsSchema(Schema):
    succeeded = fields.Integer(required=True)
    failed = fields.Integer(required=True)


class SubscriptionsSchema(Schema):
    active = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                         metadata={"example": {"basic": 120, "pro": 30, "vip": 5}})
    past_due = fields.Integer(required=True)
    mrr = fields.Integer(required=True, metadata={"description": "Minor units (fen) a month."})
    renewals_30d = fields.Nested(RenewalsSchema, required=True)
    churned_30d = fields.Integer(required=True)


class ProviderHealthSchema(Schema):
    provider = fields.String(required=True)
    methods = fields.List(fields.String(), required=True)
    circuit = fields.String(required=True, validate=validate.OneOf(["closed", "open", "half_open"]))
    consecutive_failures = fields.Integer(required=True)
    last_error_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    success_rate_bps_1h = fields.Integer(required=True, allow_none=True)


class ProvidersSchema(Schema):
    items = fields.List(fields.Nested(ProviderHealthSchema), required=True)
