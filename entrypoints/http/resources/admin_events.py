"""Handlers of the outbox's admin endpoints (role `admin`): `GET /api/v1/admin/events` (by status,
newest first, paged like the other lists) and `POST /api/v1/admin/events/{event_id}/redeliver`
(pending and due now again, same id and body, 72 hours more); docs/events.md."""
from __future__ import annotations

from aiohttp import web

from domain.outbox import OutboxEvent, OutboxStatus
from entrypoints.http.auth import require_role
from entrypoints.http.docs import BEARER, IDEMPOTENCY_KEY, docs, error_responses, querystring_schema, response_schema
from entrypoints.http.event_schemas import EventListQuerySchema, OutboxEventListSchema, OutboxEventSchema
from entrypoints.http.keys import PRINCIPAL, QUERY, USE_CASES
from entrypoints.http.render import timestamp
from entrypoints.http.responses import json_response

ADMIN_TAG = ["admin"]


def outbox_event(e: OutboxEvent) -> dict:
    waiting = e.status is OutboxStatus.PENDING
    return {"id": e.id, "type": e.type, "user_id": e.user_id, "status": e.status.value, "attempts": e.attempts,
            "created_at": timestamp(e.created_at),
            "next_attempt_at": timestamp(e.next_attempt_at) if waiting else None,
            "give_up_at": timestamp(e.give_up_at) if waiting else None,
            "delivered_at": timestamp(e.delivered_at), "last_error": e.last_error, "body": e.body}


@docs(tags=ADMIN_TAG, summary="Events to the main backend (role admin)", security=BEARER,
      operationId="adminListEvents",
      description="The outbox, newest first: `pending` (waiting to be delivered or retried), `delivered` (a 2xx "
                  "answered) or `failed` (undelivered for 72 hours). Written only while PAYMENTS_EVENTS_URL is set.",
      responses=error_responses(401, 403, 422))
@querystring_schema(EventListQuerySchema)
@response_schema(OutboxEventListSchema, 200)
async def list_events(request: web.Request) -> web.Response:
    require_role(request[PRINCIPAL], "admin")
    q = request[QUERY]
    status = OutboxStatus(q["status"]) if q["status"] else None
    page = await request.app[USE_CASES].list_events(status, q["page"], q["limit"])
    return json_response({"items": [outbox_event(e) for e in page.items], "page": page.page, "limit": page.limit,
                          "total": page.total, "has_more": page.has_more})


@docs(tags=ADMIN_TAG, summary="Deliver an event again (role admin)", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      operationId="adminRedeliverEvent",
      description="Whatever its status, the event becomes `pending` and due now, with 72 hours more to be "
                  "delivered: the same `webhook-id` and body, a new timestamp and signature. In order per user: "
                  "it goes before the later pending events of its user.",
      responses=error_responses(401, 403, 404, 409, conflicts=["idempotency_request_in_progress"]))
@response_schema(OutboxEventSchema, 200)
async def redeliver_event(request: web.Request) -> web.Response:
    require_role(request[PRINCIPAL], "admin")
    event = await request.app[USE_CASES].redeliver_event(request.match_info["event_id"])
    return json_response(outbox_event(event))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/admin/events", list_events, allow_head=False)
    router.add_post("/api/v1/admin/events/{event_id}/redeliver", redeliver_event)
