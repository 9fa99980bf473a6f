"""Handlers of the refund endpoints: the caller's own (`/api/v1/payments/refunds…`) and the admins'
(`/api/v1/admin/refunds…`, `/api/v1/admin/audit-log`, role `admin`). Each parses (the schemas did
it), calls a use case and renders the contract's Refund."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from marshmallow import ValidationError

from domain.refund import RefundKind, RefundStatus, SelfApprovalError
from entrypoints.http import errors
from entrypoints.http.auth import caller, require_role
from entrypoints.http.docs import (
    BEARER,
    IDEMPOTENCY_KEY,
    PAYMENTS_TAG,
    _annotations,
    docs,
    error_responses,
    json_schema,
    post_errors,
    querystring_schema,
    response_schema,
)
from entrypoints.http.keys import JSON_BODY, PRINCIPAL, QUERY, REQUEST_ID, USE_CASES
from entrypoints.http.middlewares import NO_NUL, _fields_with_nul, json_object
from entrypoints.http.refund_schemas import (
    AdminRefundListQuerySchema,
    AdminRefundListSchema,
    AdminRefundRequestSchema,
    AdminRefundSchema,
    ApproveRequestSchema,
    AuditLogQuerySchema,
    AuditLogSchema,
    RefundListQuerySchema,
    RefundListSchema,
    RefundQuoteQuerySchema,
    RefundQuoteSchema,
    RefundRequestSchema,
    RefundSchema,
    RejectRequestSchema,
)
from entrypoints.http.render import timestamp
from entrypoints.http.responses import json_response
from ports.refund_queries import AuditQuery, RefundQuery
from ports.use_cases.refunds.refund_views import (
    AuditPage,
    RefundPage,
    RefundQuoteView,
    RefundView,
)
from ports.use_cases.refunds.request_refund import (
    CancelRefundCommand,
    ListRefundsQuery,
    QuoteRefundQuery,
    RequestRefundCommand,
)
from ports.use_cases.refunds.review_refund import IssueRefundCommand, ReviewCommand
from ports.use_cases.views import CursorPage

ADMIN_TAG = ["admin"]
REFUND_CONFLICTS = ["not_refundable", "refund_in_progress"]


# ---------------------------------------------------------------------------- rendering
def refund(r: RefundView, *, admin: bool = False) -> dict:
    rendered = {
        "id": r.id, "transaction_id": r.transaction_id, "order_id": r.order_id, "kind": r.kind, "status": r.status,
        "amount": r.amount.amount, "currency": r.amount.currency.code, "receives": r.receives,
        "ends_plan": r.ends_plan, "reason": r.reason, "requested_by": r.requested_by, "reviewed_by": r.reviewed_by,
        "review_note": r.review_note, "failure_reason": r.failure_reason, "created_at": timestamp(r.created_at),
        "reviewed_at": timestamp(r.reviewed_at), "completed_at": timestamp(r.completed_at)}
    if admin:
        rendered.update(user_id=r.user_id, provider=r.provider)
    return rendered


def quote(q: RefundQuoteView) -> dict:
    return {"transaction_id": q.transaction_id, "amount": q.amount.amount, "currency": q.amount.currency.code,
            "receives": q.receives, "ends_plan": q.ends_plan}


def refund_page(page: RefundPage | CursorPage, *, admin: bool = False) -> dict:
    items = [refund(r, admin=admin) for r in page.items]
    if isinstance(page, CursorPage):
        return {"items": items, "has_more": page.has_more, "next_cursor": page.next_cursor}
    return {"items": items, "page": page.page, "limit": page.limit, "total": page.total, "has_more": page.has_more}


def audit_page(page: AuditPage | CursorPage) -> dict:
    items = [{"id": e.id, "actor": e.actor, "action": e.action, "object_type": e.object_type, "object_id": e.object_id,
              "details": e.details, "request_id": e.request_id, "created_at": timestamp(e.created_at)}
             for e in page.items]
    if isinstance(page, CursorPage):
        return {"items": items, "has_more": page.has_more, "next_cursor": page.next_cursor}
    return {"items": items, "page": page.page, "limit": page.limit, "total": page.total, "has_more": page.has_more}


def _request_id(request: web.Request) -> str | None:
    return request.get(REQUEST_ID)


# ---------------------------------------------------------------------------- the caller's refunds
@docs(tags=PAYMENTS_TAG, summary="Quote a refund", security=BEARER, operationId="quoteRefund",
      description="What a refund request of this transaction would be for now (nothing is stored), or why "
                  "there can be none (409 `not_refundable` saying which rule, `refund_in_progress`).",
      responses=error_responses(401, 404, 422, 409, conflicts=REFUND_CONFLICTS))
@querystring_schema(RefundQuoteQuerySchema)
@response_schema(RefundQuoteSchema, 200)
async def quote_refund(request: web.Request) -> web.Response:
    query = request[QUERY]
    quoted = await request.app[USE_CASES].quote_refund(QuoteRefundQuery(
        caller(request), query["transaction_id"], query["receives"]))
    return json_response(quote(quoted))


@docs(tags=PAYMENTS_TAG, summary="Ask for a refund", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      operationId="requestRefund",
      description="A refund of a succeeded or partially refunded purchase of receives, plan upgrade or renewal, "
                  "within the refund window; an admin approves or rejects it. The receives it takes back are "
                  "held at once (they leave `purchased_remaining`) and come back if it is rejected or cancelled.",
      responses=post_errors(404, 409, conflicts=REFUND_CONFLICTS))
@json_schema(RefundRequestSchema)
@response_schema(RefundSchema, 201)
async def request_refund(request: web.Request) -> web.Response:
    body = request[JSON_BODY]
    made = await request.app[USE_CASES].request_refund(RequestRefundCommand(
        caller(request), body["transaction_id"], body["reason"], body["receives"], _request_id(request)))
    return json_response(refund(made), status=201)


@docs(tags=PAYMENTS_TAG, summary="Your refunds", security=BEARER, operationId="listRefunds",
      description="Newest first; by page (page, limit) or after a cursor (starting_after, limit).",
      responses=error_responses(401, 422))
@querystring_schema(RefundListQuerySchema)
@response_schema(RefundListSchema, 200)
async def list_refunds(request: web.Request) -> web.Response:
    query = request[QUERY]
    page = await request.app[USE_CASES].list_refunds(ListRefundsQuery(
        caller(request), tuple(RefundStatus(s) for s in query["status"]), query["page"], query["limit"],
        query["starting_after"]))
    return json_response(refund_page(page))


@docs(tags=PAYMENTS_TAG, summary="One of your refunds", security=BEARER, operationId="getRefund",
      responses=error_responses(401, 404))
@response_schema(RefundSchema, 200)
async def get_refund(request: web.Request) -> web.Response:
    found = await request.app[USE_CASES].get_refund(caller(request), request.match_info["refund_id"])
    return json_response(refund(found))


@docs(tags=PAYMENTS_TAG, summary="Cancel your refund request", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      operationId="cancelRefund", description="Only a `requested` refund; its held receives come back.",
      responses=error_responses(401, 404, 409, conflicts=["invalid_state", "idempotency_request_in_progress"]))
@response_schema(RefundSchema, 200)
async def cancel_refund(request: web.Request) -> web.Response:
    cancelled = await request.app[USE_CASES].cancel_refund(CancelRefundCommand(
        caller(request), request.match_info["refund_id"], _request_id(request)))
    return json_response(refund(cancelled))


# ---------------------------------------------------------------------------- the admins'
def _admin(request: web.Request) -> str:
    require_role(request[PRINCIPAL], "admin")
    return caller(request)


def _documented_body(schema: Any):
    """The body in the OpenAPI document, validated by the admin handler itself once the caller's
    role is checked (so a caller without the role gets 403 whatever the body)."""
    instance = schema()

    def decorate(handler):
        _annotations(handler)["schemas"].append(
            {"schema": instance, "location": "json", "options": {"required": False}, "example": {}})
        return handler
    return decorate


async def _body(request: web.Request, schema: Any, *, optional: bool = False) -> dict:
    """The JSON body loaded by `schema` (as the validation middleware does); with `optional`, an
    empty body counts as `{}`."""
    if optional and not (await request.read()).strip():
        return schema().load({})
    body = await json_object(request)
    with_nul = _fields_with_nul(body)
    if with_nul:
        raise errors.validation_error({field: [NO_NUL] for field in with_nul})
    try:
        return schema().load(body)
    except ValidationError as error:
        raise errors.validation_error(error.normalized_messages()) from None


@docs(tags=ADMIN_TAG, summary="Every user's refunds (role admin)", security=BEARER, operationId="adminListRefunds",
      description="`sort=created_at` with `status=requested` is the review queue (oldest first).",
      responses=error_responses(401, 403, 422))
@querystring_schema(AdminRefundListQuerySchema)
@response_schema(AdminRefundListSchema, 200)
async def admin_list_refunds(request: web.Request) -> web.Response:
    _admin(request)
    q = request[QUERY]
    page = await request.app[USE_CASES].list_all_refunds(RefundQuery(
        user_id=q["user_id"], statuses=tuple(RefundStatus(s) for s in q["status"]),
        kinds=tuple(RefundKind(k) for k in q["kind"]), provider=q["provider"], date_from=q["date_from"],
        date_to=q["date_to"], oldest_first=q["sort"] == "created_at", page=q["page"] or 1, limit=q["limit"]),
        page=q["page"], starting_after=q["starting_after"])
    return json_response(refund_page(page, admin=True))


@docs(tags=ADMIN_TAG, summary="Issue a refund (role admin)", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      operationId="adminCreateRefund",
      description="Not bound by the refund window. At or below PAYMENTS_REFUND_SECOND_APPROVAL_ABOVE it is sent at "
                  "once (`processing`); above, it starts `requested` and another admin must approve it.",
      responses=post_errors(403, 404, 409, conflicts=REFUND_CONFLICTS))
@_documented_body(AdminRefundRequestSchema)
@response_schema(AdminRefundSchema, 201)
async def admin_create_refund(request: web.Request) -> web.Response:
    admin = _admin(request)
    body = await _body(request, AdminRefundRequestSchema)
    issued = await request.app[USE_CASES].issue_refund(IssueRefundCommand(
        admin, body["transaction_id"], body["reason"], body["amount"], body["receives"], _request_id(request)))
    return json_response(refund(issued, admin=True), status=201)


@docs(tags=ADMIN_TAG, summary="Approve a refund (role admin)", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      operationId="adminApproveRefund",
      description="`requested` → `processing`, then sent to the provider with the refund's order id. An admin "
                  "cannot approve a refund they asked for (403). A refund that ends a plan returns the member "
                  "to basic at once.",
      responses=error_responses(400, 401, 403, 404, 413, 422, 409,
                                conflicts=["invalid_state", "idempotency_request_in_progress"]))
@_documented_body(ApproveRequestSchema)
@response_schema(AdminRefundSchema, 200)
async def admin_approve_refund(request: web.Request) -> web.Response:
    admin = _admin(request)
    body = await _body(request, ApproveRequestSchema, optional=True)
    try:
        approved = await request.app[USE_CASES].review_refunds.approve(ReviewCommand(
            admin, request.match_info["refund_id"], body["note"], _request_id(request)))
    except SelfApprovalError as error:
        raise errors.forbidden(error.message) from None
    return json_response(refund(approved, admin=True))


@docs(tags=ADMIN_TAG, summary="Reject a refund (role admin)", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      operationId="adminRejectRefund", description="`requested` → `rejected`; held receives come back.",
      responses=post_errors(403, 404, 409, conflicts=["invalid_state"]))
@_documented_body(RejectRequestSchema)
@response_schema(AdminRefundSchema, 200)
async def admin_reject_refund(request: web.Request) -> web.Response:
    admin = _admin(request)
    body = await _body(request, RejectRequestSchema)
    rejected = await request.app[USE_CASES].review_refunds.reject(ReviewCommand(
        admin, request.match_info["refund_id"], body["note"], _request_id(request)))
    return json_response(refund(rejected, admin=True))


@docs(tags=ADMIN_TAG, summary="Retry a failed refund (role admin)", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      operationId="adminRetryRefund", description="`failed` → `processing`, sent again with the same order id.",
      responses=error_responses(401, 403, 404, 409,
                                conflicts=["invalid_state", "refund_in_progress", "idempotency_request_in_progress"]))
@response_schema(AdminRefundSchema, 200)
async def admin_retry_refund(request: web.Request) -> web.Response:
    admin = _admin(request)
    retried = await request.app[USE_CASES].review_refunds.retry(ReviewCommand(
        admin, request.match_info["refund_id"], None, _request_id(request)))
    return json_response(refund(retried, admin=True))


@docs(tags=ADMIN_TAG, summary="The audit log (role admin)", security=BEARER, operationId="adminAuditLog",
      description="Newest first; append-only.", responses=error_responses(401, 403, 422))
@querystring_schema(AuditLogQuerySchema)
@response_schema(AuditLogSchema, 200)
async def admin_audit_log(request: web.Request) -> web.Response:
    _admin(request)
    q = request[QUERY]
    page = await request.app[USE_CASES].list_audit_log(AuditQuery(
        actor=q["actor"], object_id=q["object_id"], action=q["action"], date_from=q["date_from"],
        date_to=q["date_to"], page=q["page"] or 1, limit=q["limit"]), page=q["page"], starting_after=q["starting_after"])
    return json_response(audit_page(page))


def add_routes(router: web.UrlDispatcher) -> None:
    api, admin = "/api/v1/payments", "/api/v1/admin"
    router.add_get(f"{api}/refunds/quote", quote_refund, allow_head=False)
    router.add_post(f"{api}/refunds", request_refund)
    router.add_get(f"{api}/refunds", list_refunds, allow_head=False)
    router.add_get(f"{api}/refunds/{{refund_id}}", get_refund, allow_head=False)
    router.add_post(f"{api}/refunds/{{refund_id}}/cancel", cancel_refund)
    router.add_get(f"{admin}/refunds", admin_list_refunds, allow_head=False)
    router.add_post(f"{admin}/refunds", admin_create_refund)
    router.add_post(f"{admin}/refunds/{{refund_id}}/approve", admin_approve_refund)
    router.add_post(f"{admin}/refunds/{{refund_id}}/reject", admin_reject_refund)
    router.add_post(f"{admin}/refunds/{{refund_id}}/retry", admin_retry_refund)
    router.add_get(f"{admin}/audit-log", admin_audit_log, allow_head=False)
