"""marshmallow schemas: request validation (unknown fields rejected, no coercion of types) and the
OpenAPI description of every request and response. Responses themselves are rendered by
`render.py`; tests check that what it renders conforms to these schemas."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from domain.catalog import PAYMENT_METHODS, PlanId
from domain.transaction import TransactionStatus, TransactionType
from ports.payment_provider import Flow

METHOD_IDS = list(PAYMENT_METHODS)
PLAN_IDS = [p.value for p in PlanId]
TYPES = [t.value for t in TransactionType]
STATUSES = [s.value for s in TransactionStatus]
FLOWS = [f.value for f in Flow]
SESSION_STATUSES = ["open", "completed", "expired", "cancelled", "failed", "refunded"]


class StrictInteger(fields.Integer):
    """A JSON number that is a whole number: "10", 10.5 and true are refused."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictString(fields.String):
    """A JSON string (numbers are not turned into strings)."""


class JsonBoolean(fields.Boolean):
    """A JSON true or false only ("true", 1 and "yes" are refused)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class RequestSchema(Schema):
    class Meta:
        unknown = RAISE


def flow_field() -> StrictString:
    """The optional `flow` of the requests that open a payment session."""
    return StrictString(load_default=None, allow_none=True, validate=validate.OneOf(FLOWS), metadata={
        "description": "How the payer pays: `qr_code` (a code to scan with a phone), `redirect` (the "
                       "provider's page in a desktop browser) or `mobile_redirect` (its page in a phone's "
                       "browser). Default: the method's first flow in `GET /methods`. A flow the method's "
                       "provider does not offer (see its `flows`) → 422 `validation_error` naming `flow`.",
        "example": "qr_code"})


def save_method_field() -> JsonBoolean:
    """The optional `save_method` of the requests that open a payment session (docs/saved-methods.md)."""
    return JsonBoolean(load_default=False, metadata={
        "description": "Keep the payment method when this payment succeeds (a saved method, listed by "
                       "`GET /saved-methods`; the first one is the default). A method whose provider cannot "
                       "save it (see `can_save` in `GET /methods`) → 422 `validation_error`.", "example": False})


def saved_method_id_field() -> StrictString:
    return StrictString(load_default=None, allow_none=True, validate=validate.Length(1, 64), metadata={
        "description": "One-click: charge this saved method at once instead of opening a session (give it "
                       "instead of `payment_method`, not with it). An unknown or someone else's id → 404. "
                       "201 with `session` null and the transaction `succeeded` (or `failed` with its "
                       "`failure_reason`); a provider that needs the payer (3-D Secure) opens a session instead.",
        "example": None})  # the examples pay with `payment_method` (one way to pay at a time)


class OneClickRequestSchema(RequestSchema):
    """`payment_method` and `saved_method_id` exclude each other (one-click purchases)."""

    method_required = True  # the request needs one of the two

    @validates_schema
    def _one_way_to_pay(self, data, **kwargs):
        if data.get("payment_method") is not None and data.get("saved_method_id") is not None:
            raise ValidationError("Give payment_method or saved_method_id, not both.", "saved_method_id")
        if self.method_required and data.get("payment_method") is None and data.get("saved_method_id") is None:
            raise ValidationError("Missing data for required field.", "payment_method")


# ---------------------------------------------------------------------------- requests
class PurchaseReceivesRequestSchema(OneClickRequestSchema):
    amount = StrictInteger(required=True, validate=validate.Range(1, 100),
                           metadata={"description": "Number of receives to buy (1-100).", "example": 10})
    payment_method = StrictString(load_default=None, validate=validate.OneOf(METHOD_IDS), metadata={
        "description": "Required unless `saved_method_id` is given.", "example": "wechat_pay"})
    return_url = StrictString(load_default=None, allow_none=True, validate=validate.Length(max=2048),
                              metadata={"description": "Where a redirect flow sends the payer back; "
                                                       "its host must be in PAYMENTS_RETURN_URL_HOSTS."})
    flow = flow_field()
    save_method = save_method_field()
    saved_method_id = saved_method_id_field()


class ChangePlanRequestSchema(OneClickRequestSchema):
    method_required = False  # an upgrade needs one (checked by the use case), a downgrade none
    new_plan = StrictString(required=True, validate=validate.OneOf(PLAN_IDS), metadata={"example": "pro"})
    payment_method = StrictString(load_default=None, allow_none=True, validate=validate.OneOf(METHOD_IDS),
                                  metadata={"description": "Required for upgrades only (or `saved_method_id`).",
                                            "example": "wechat_pay"})
    return_url = StrictString(load_default=None, allow_none=True, validate=validate.Length(max=2048))
    flow = flow_field()
    save_method = save_method_field()
    saved_method_id = saved_method_id_field()


class OpenSessionRequestSchema(RequestSchema):
    transaction_id = StrictString(required=True, validate=validate.Length(1, 64),
                                  metadata={"example": "txn_fd58dacddb45833b74e2f4df"})
    payment_method = StrictString(load_default=None, allow_none=True, validate=validate.OneOf(METHOD_IDS),
                                  metadata={"description": "Default: the transaction's.", "example": "alipay"})
    return_url = StrictString(load_default=None, allow_none=True, validate=validate.Length(max=2048))
    flow = flow_field()
    save_method = save_method_field()


class CancelRequestSchema(RequestSchema):
    transaction_id = StrictString(required=True, validate=validate.Length(1, 64),
                                  metadata={"example": "txn_fd58dacddb45833b74e2f4df"})
    reason = StrictString(load_default=None, allow_none=True, validate=validate.Length(max=500),
                          metadata={"example": "changed my mind"})


class ConsumeRequestSchema(RequestSchema):
    user_id = StrictString(required=True, validate=validate.Length(1, 255), metadata={"example": "u1"})
    count = StrictInteger(required=True, validate=validate.Range(1, 100), metadata={"example": 1})
    reference = StrictString(required=True, validate=validate.Length(1, 255),
                             metadata={"description": "Unique per user: the same reference never consumes twice.",
                                       "example": "match-123"})


class SeparatedList(fields.List):
    """A query parameter that may repeat and may hold comma-separated values."""

    def _deserialize(self, value, attr, data, **kwargs):
        items = value if isinstance(value, list) else [value]
        split = [part.strip() for item in items if isinstance(item, str) for part in item.split(",")]
        return super()._deserialize(split, attr, data, **kwargs)


_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})?$")


class DateOrDateTime(fields.Field):
    """An ISO 8601 / RFC 3339 date (a whole UTC day) or date-time (no offset means UTC; an offset
    is at most 23:59 either way);
    `end_of_day` makes a date mean its last instant, so that `date_to=2026-11-27` includes that
    whole day. A leap second (:60) counts as :59."""

    def __init__(self, *, end_of_day: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.end_of_day = end_of_day

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Must be an ISO 8601 date or date-time.")
        try:
            if len(value) == 10:
                day = date.fromisoformat(value)
                return datetime.combine(day, time.max if self.end_of_day else time.min, tzinfo=timezone.utc)
            match = _DATE_TIME.match(value)
            if match is None:
                raise ValueError(value)
            day_text, hours, minutes, seconds, fraction, offset = match.groups()
            micro = int((fraction or "0")[:6].ljust(6, "0"))
            moment = datetime.combine(date.fromisoformat(day_text),
                                      time(int(hours), int(minutes), min(int(seconds), 59), micro))
            if offset in (None, "Z", "z"):
                return moment.replace(tzinfo=timezone.utc)
            sign = 1 if offset[0] == "+" else -1
            if int(offset[1:3]) > 23 or int(offset[4:6]) > 59:  # RFC 3339: an offset is 00:00-23:59
                raise ValueError(offset)
            shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
            return (moment - sign * shift).replace(tzinfo=timezone.utc)
        except (ValueError, OverflowError):
            raise ValidationError("Must be an ISO 8601 date or date-time.") from None


class TransactionListQuerySchema(Schema):
    class Meta:
        unknown = RAISE  # an unknown query parameter is refused like an unknown body field

    type = SeparatedList(fields.String(validate=validate.OneOf(TYPES)), load_default=list,
                         metadata={"description": "Repeatable or comma-separated."})
    status = SeparatedList(fields.String(validate=validate.OneOf(STATUSES)), load_default=list,
                           metadata={"description": "Repeatable or comma-separated."})
    date_from = DateOrDateTime(load_default=None, metadata={"type": "string", "description": "Inclusive, on created_at: an ISO date or date-time."})
    date_to = DateOrDateTime(end_of_day=True, load_default=None,
                             metadata={"type": "string", "description": "Inclusive; a date includes that whole UTC day."})
    page = fields.Integer(load_default=None, validate=validate.Range(min=1, max=1_000_000),
                          metadata={"description": "1 when omitted. Not with starting_after."})
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    starting_after = fields.String(load_default=None, metadata={
        "description": "Cursor: the id of one of your transactions; answers the ones after it (newest first) "
                       "as {items, has_more, next_cursor}. Not with page.", "example": None})


# ---------------------------------------------------------------------------- responses
class ErrorDetailSchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True,
                          metadata={"description": "The fields at fault and what is wrong with each; "
                                                   "`{}` when no field is."})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema, required=True)


class TransactionSchema(Schema):
    id = fields.String(required=True)
    order_id = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(TYPES))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    receives = fields.Integer(required=True, allow_none=True)
    plan_from = fields.String(required=True, allow_none=True, validate=validate.OneOf(PLAN_IDS))
    plan_to = fields.String(required=True, allow_none=True, validate=validate.OneOf(PLAN_IDS))
    subtotal = fields.Integer(required=True, metadata={"description": "Minor units (fen)."})
    discount = fields.Integer(required=True)
    total = fields.Integer(required=True)
    currency = fields.String(required=True)
    payment_method = fields.String(required=True, allow_none=True)
    provider = fields.String(required=True, allow_none=True)
    refunded_amount = fields.Integer(required=True)
    cancel_reason = fields.String(required=True, allow_none=True)
    failure_reason = fields.String(required=True, allow_none=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    updated_at = fields.String(required=True, metadata={"format": "date-time"})
    completed_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    price_variant = fields.String(required=True, allow_none=True, metadata={
        "description": "`<experiment>/<variant>` of the price experiment whose prices it was made with; null "
                       "outside experiments.", "example": "receives-2027q1/cheaper"})


class PaymentSessionSchema(Schema):
    id = fields.String(required=True)
    transaction_id = fields.String(required=True)
    order_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(SESSION_STATUSES))
    payment_method = fields.String(required=True)
    provider = fields.String(required=True)
    amount = fields.Integer(required=True)
    currency = fields.String(required=True)
    payment_url = fields.String(required=True, allow_none=True)
    qr_code = fields.String(required=True, allow_none=True)
    qr_code_image = fields.String(required=True, allow_none=True,
                                  metadata={"description": "data:image/svg+xml;base64,… of qr_code (or payment_url)."})
    expires_at = fields.String(required=True, metadata={"format": "date-time"})
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    completed_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})


class ProrationSchema(Schema):
    credit = fields.Integer(required=True)
    debit = fields.Integer(required=True)
    charge = fields.Integer(required=True)
    period_end = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})


class ScheduledChangeSchema(Schema):
    plan = fields.String(required=True, validate=validate.OneOf(PLAN_IDS))
    effective_at = fields.String(required=True, metadata={"format": "date-time"})


class ReceivesBalanceSchema(Schema):
    balance = fields.Integer(required=True)
    allowance_remaining = fields.Integer(required=True)
    purchased_remaining = fields.Integer(required=True)
    monthly_allowance = fields.Integer(required=True)


class MembershipSchema(Schema):
    plan = fields.String(required=True, validate=validate.OneOf(PLAN_IDS))
    status = fields.String(required=True, validate=validate.OneOf(("active", "past_due")),
                           metadata={"description": "past_due: the renewal of this period is unpaid (grace)."})
    current_period_start = fields.String(required=True, metadata={"format": "date-time"})
    current_period_end = fields.String(required=True, metadata={"format": "date-time"})
    scheduled_change = fields.Nested(ScheduledChangeSchema, required=True, allow_none=True)
    receives = fields.Nested(ReceivesBalanceSchema, required=True)
    auto_renew = fields.Boolean(required=True)
    renewal_method_id = fields.String(required=True, allow_none=True,
                                      metadata={"description": "The saved method renewals charge (null: by reminder)."})
    next_renewal_at = fields.String(required=True, allow_none=True, metadata={
        "format": "date-time", "description": "The period end a renewal is charged for (null without auto_renew)."})
    grace_until = fields.String(required=True, allow_none=True, metadata={
        "format": "date-time", "description": "While past_due: the plan lapses to basic then if still unpaid."})



class PaymentResponseSchema(Schema):
    transaction = fields.Nested(TransactionSchema, required=True)
    session = fields.Nested(PaymentSessionSchema, required=True, allow_none=True, metadata={
        "description": "null for a one-click purchase charged at once (`saved_method_id`)."})


class PlanChangeResponseSchema(Schema):
    """One of three shapes: an upgrade (transaction, session, proration), a downgrade
    (transaction, session null, effective_at), or a cancelled scheduled change (membership)."""

    transaction = fields.Nested(TransactionSchema)
    session = fields.Nested(PaymentSessionSchema, allow_none=True)
    proration = fields.Nested(ProrationSchema)
    effective_at = fields.String(metadata={"format": "date-time"})
    membership = fields.Nested(MembershipSchema)


class TransactionResponseSchema(Schema):
    transaction = fields.Nested(TransactionSchema, required=True)


class TransactionDetailSchema(Schema):
    transaction = fields.Nested(TransactionSchema, required=True)
    sessions = fields.List(fields.Nested(PaymentSessionSchema), required=True)
    refunds = fields.List(fields.Nested("RefundSchema"), required=True,
                          metadata={"description": "The transaction's refunds, oldest first (automatic ones too)."})


class TransactionPageSchema(Schema):
    items = fields.List(fields.Nested(TransactionSchema), required=True)
    page = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    total = fields.Integer(required=True)
    has_more = fields.Boolean(required=True)


class PaymentMethodSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    available = fields.Boolean(required=True)
    icon_url = fields.String(required=True, allow_none=True)
    flows = fields.List(fields.String(validate=validate.OneOf(FLOWS)), required=True, metadata={
        "description": "The flows its provider offers, the default (used when a request gives no `flow`) first."})
    currencies = fields.List(fields.String(), required=True)
    status = fields.String(required=True, validate=validate.OneOf(["ok", "degraded", "unavailable"]), metadata={
        "description": "degraded while its provider's circuit is open (available false) or half open."})
    can_save = fields.Boolean(required=True, metadata={
        "description": "Whether `save_method` may be asked with it (its provider keeps methods)."})


class PaymentMethodsSchema(Schema):
    methods = fields.List(fields.Nested(PaymentMethodSchema), required=True)


class TierSchema(Schema):
    min_amount = fields.Integer(required=True)
    discount_percent = fields.Integer(required=True)


class ReceivesPricingSchema(Schema):
    unit_price = fields.Integer(required=True)
    min_amount = fields.Integer(required=True)
    max_amount = fields.Integer(required=True)
    tiers = fields.List(fields.Nested(TierSchema), required=True)


class PlanSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    price = fields.Integer(required=True)
    interval = fields.String(required=True)
    monthly_receives = fields.Integer(required=True)


class PricingSchema(Schema):
    currency = fields.String(required=True)
    receives = fields.Nested(ReceivesPricingSchema, required=True)
    plans = fields.List(fields.Nested(PlanSchema), required=True)


class NotificationAckSchema(Schema):
    received = fields.Boolean(required=True)


class HealthSchema(Schema):
    status = fields.String(required=True)


# ---------------------------------------------------------------------------- quotes
class QueryInteger(fields.Integer):
    """A whole number in a query string: ASCII digits, optionally signed ("7", "-1"). "7.0", "1e2",
    "1_0", " 7" and other digits than 0-9 are refused, though Python's int() takes some of them."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or re.fullmatch(r"[+-]?[0-9]{1,18}", value) is None:
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class ReceivesQuoteQuerySchema(Schema):
    class Meta:
        unknown = RAISE  # an unknown query parameter is refused like an unknown body field

    amount = QueryInteger(required=True, validate=validate.Range(1, 100),
                          metadata={"description": "Number of receives to price (1-100).", "example": 7})


class PlanQuoteQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    new_plan = fields.String(required=True, validate=validate.OneOf(PLAN_IDS),
                             metadata={"description": "The plan to price a change to.", "example": "vip"})


class ReceivesQuoteSchema(Schema):
    amount = fields.Integer(required=True, metadata={"description": "Number of receives.", "example": 7})
    subtotal = fields.Integer(required=True, metadata={"description": "Minor units (fen).", "example": 1400})
    discount = fields.Integer(required=True, metadata={"example": 140})
    total = fields.Integer(required=True, metadata={"example": 1260})
    currency = fields.String(required=True, metadata={"example": "CNY"})


class PlanQuoteSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(["upgrade", "downgrade", "unchanged"]),
                         metadata={"example": "upgrade"})
    proration = fields.Nested(ProrationSchema, required=True, allow_none=True,
                              metadata={"description": "An upgrade's figures, as POST /plan would charge them; "
                                                       "null otherwise."})
    effective_at = fields.String(required=True, allow_none=True,
                                 metadata={"format": "date-time", "example": None,
                                           "description": "When a downgrade would take effect (the period "
                                                          "end); null otherwise."})
    currency = fields.String(required=True, metadata={"example": "CNY"})


# ---------------------------------------------------------------------------- cursor pagination, the ledger
class PageSchema(Schema):
    """What every list answers besides its `items`: a numbered page (page, limit, total, has_more)
    or, with starting_after, the items after the cursor (has_more, next_cursor)."""

    has_more = fields.Boolean(required=True)
    page = fields.Integer(metadata={"description": "Numbered pages only."})
    limit = fields.Integer(metadata={"description": "Numbered pages only."})
    total = fields.Integer(metadata={"description": "Numbered pages only."})
    next_cursor = fields.String(allow_none=True, metadata={
        "description": "With starting_after only: the last item's id when has_more (the next starting_after), "
                       "else null."})


class TransactionListSchema(PageSchema):
    items = fields.List(fields.Nested(TransactionSchema), required=True)


class LedgerQuerySchema(Schema):
    class Meta:
        unknown = RAISE  # an unknown query parameter is refused like an unknown body field

    page = fields.Integer(load_default=None, validate=validate.Range(min=1, max=1_000_000),
                          metadata={"description": "1 when omitted. Not with starting_after."})
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    starting_after = fields.String(load_default=None, metadata={
        "description": "Cursor: the id of one of your ledger lines; answers the older ones as "
                       "{items, has_more, next_cursor}. Not with page.", "example": None})


LEDGER_KINDS = ["allowance_grant", "allowance_expiry", "purchase", "consumption", "refund_hold", "refund_release"]


class LedgerLineSchema(Schema):
    id = fields.String(required=True, metadata={"example": "rle_42"})
    kind = fields.String(required=True, validate=validate.OneOf(LEDGER_KINDS), metadata={"example": "purchase"})
    delta = fields.Integer(required=True, metadata={"description": "Receives added (negative: taken).",
                                                    "example": 10})
    balance_after = fields.Integer(required=True, metadata={
        "description": "The balance right after this line: the sum of the deltas up to it.", "example": 27})
    transaction_id = fields.String(required=True, allow_none=True, metadata={
        "description": "The transaction that caused it (a purchase, a refund), else null.", "example": None})
    reference = fields.String(required=True, metadata={
        "description": "The cause: the consumer's reference, the allowance period, the transaction id.",
        "example": "match-123"})
    created_at = fields.String(required=True, metadata={"format": "date-time"})


class LedgerListSchema(PageSchema):
    items = fields.List(fields.Nested(LedgerLineSchema), required=True)
