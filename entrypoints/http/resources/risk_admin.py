"""Handlers of the risk admin endpoints (role `admin`, docs/risk.md): the flags the rules raised,
resolving one, blocking and unblocking a user. `install` also subscribes the refund-abuse signal
to the post-commit events at start-up, and waits for the risk flags still being written at the end."""
from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from aiohttp import web

from domain.risk import RiskFlag
from entrypoints.http.auth import require_role
from entrypoints.http.docs import (
    BEARER,
    IDEMPOTENCY_KEY,
    docs,
    error_responses,
    json_schema,
    post_errors,
    querystring_schema,
    response_schema,
)
from entrypoints.http.keys import CONTAINER, JSON_BODY, PRINCIPAL, QUERY, REQUEST_ID
from entrypoints.http.render import timestamp
from entrypoints.http.responses import json_response
from entrypoints.http.risk_schemas import (
    BlockStateSchema,
    BlockUserSchema,
    ResolveFlagSchema,
    RiskFlagListQuerySchema,
    RiskFlagPageSchema,
    RiskFlagSchema,
)

ADMIN = "/api/v1/admin"
RISK_TAG = ["risk"]
USE_CASE_NAMES = ("list_risk_flags", "resolve_risk_flag", "set_user_blocked")
RISK: web.AppKey[Any] = web.AppKey("risk_use_cases", object)


def _admin(request: web.Request) -> str:
    require_role(request[PRINCIPAL], "admin")
    return request[PRINCIPAL].user_id


def render_flag(flag: RiskFlag) -> dict:
    return {"id": flag.id, "user_id": flag.user_id, "rule": flag.rule.value, "details": dict(flag.details),
            "created_at": timestamp(flag.created_at), "resolved_at": timestamp(flag.resolved_at),
            "resolved_by": flag.resolved_by, "note": flag.note}


@docs(tags=RISK_TAG, summary="Risk flags", security=BEARER, operationId="listRiskFlags",
      description="Users the risk rules flagged (daily_amount, failed_attempts, refund_abuse, linked_payer), newest "
                  "first; one open flag per user and rule. Filters: user_id, rule, resolved.",
      responses=error_responses(401, 403))
@querystring_schema(RiskFlagListQuerySchema)
@response_schema(RiskFlagPageSchema, 200)
async def list_flags(request: web.Request) -> web.Response:
    _admin(request)
    q = request[QUERY]
    resolved = None if q["resolved"] is None else q["resolved"] == "true"
    items, total = await request.app[RISK].list_risk_flags(user_id=q["user_id"], rule=q["rule"], resolved=resolved,
                                                           page=q["page"], limit=q["limit"])
    return json_response({"items": [render_flag(f) for f in items], "page": q["page"], "limit": q["limit"],
                          "total": total, "has_more": q["page"] * q["limit"] < total})


@docs(tags=RISK_TAG, summary="Resolve a risk flag", security=BEARER, operationId="resolveRiskFlag", parameters=[IDEMPOTENCY_KEY],
      description="Marks the flag resolved by the calling admin, with a note (audited). Resolving a resolved flag "
                  "answers it as it is.",
      responses={**post_errors(403, 404)})
@json_schema(ResolveFlagSchema)
@response_schema(RiskFlagSchema, 200)
async def resolve_flag(request: web.Request) -> web.Response:
    admin = _admin(request)
    flag = await request.app[RISK].resolve_risk_flag(request.match_info["flag_id"], admin=admin,
                                                     note=request[JSON_BODY]["note"],
                                                     request_id=request.get(REQUEST_ID))
    return json_response(render_flag(flag))


@docs(tags=RISK_TAG, summary="Block a user", security=BEARER, operationId="blockUser", parameters=[IDEMPOTENCY_KEY],
      description="Every new payment of the user is then refused with 403 risk_declined (audited).",
      responses={**post_errors(403)})
@json_schema(BlockUserSchema)
@response_schema(BlockStateSchema, 200)
async def block_user(request: web.Request) -> web.Response:
    admin = _admin(request)
    state = await request.app[RISK].set_user_blocked(request.match_info["user_id"], True, admin=admin,
                                                     reason=request[JSON_BODY]["reason"],
                                                     request_id=request.get(REQUEST_ID))
    return json_response({"user_id": state.user_id, "blocked": state.blocked})


@docs(tags=RISK_TAG, summary="Unblock a user", security=BEARER, operationId="unblockUser", parameters=[IDEMPOTENCY_KEY],
      description="The user may pay again (audited). Takes no body.",
      responses=error_responses(401, 403, 409, conflicts=["idempotency_request_in_progress"]))
@response_schema(BlockStateSchema, 200)
async def unblock_user(request: web.Request) -> web.Response:
    admin = _admin(request)
    state = await request.app[RISK].set_user_blocked(request.match_info["user_id"], False, admin=admin,
                                                     request_id=request.get(REQUEST_ID))
    return json_response({"user_id": state.user_id, "blocked": state.blocked})


def install(app: web.Application) -> None:
    app.cleanup_ctx.append(_start)
    add_routes(app.router)


async def _start(app: web.Application) -> AsyncIterator[None]:
    container = app[CONTAINER]
    resolved = {name: await _resolve(getattr(container.use_cases, name)) for name in USE_CASE_NAMES}
    app[RISK] = SimpleNamespace(**resolved)
    dispatcher = await _resolve(container.adapters.dispatcher)
    dispatcher.subscribe(await _resolve(container.use_cases.refund_abuse))  # after a refund request commits
    gate = await _resolve(container.use_cases.risk_gate)
    yield
    await gate.settled()


async def _resolve(provider) -> Any:
    value = provider()
    return await value if inspect.isawaitable(value) else value


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(f"{ADMIN}/risk/flags", list_flags, allow_head=False)
    router.add_post(f"{ADMIN}/risk/flags/{{flag_id}}/resolve", resolve_flag)
    router.add_post(f"{ADMIN}/users/{{user_id}}/block", block_user)
    router.add_post(f"{ADMIN}/users/{{user_id}}/unblock", unblock_user)
