"""`POST /api/v1/payments/webhooks/{provider}`: provider notifications. No JWT: the provider's own
signature is verified over the raw body by its plugin; the answer is what that provider expects."""
from __future__ import annotations

from aiohttp import web

from entrypoints.http.docs import docs, error_responses
from entrypoints.http.keys import USE_CASES
from entrypoints.http.schemas import NotificationAckSchema
from ports.use_cases.notifications.handle_notification import HandleNotificationCommand

MAX_NOTIFICATION_BYTES = 64 * 1024
# Where providers are told to send notifications (the use cases get it as a URL template).
NOTIFY_PATH = "/api/v1/payments/webhooks/{provider}"


@docs(tags=["webhooks"], summary="A payment provider's notification",
      description="Signed by the provider (the mock: `Mock-Signature`). A re-delivery is applied once; an "
                  "authentic notification that does not match its order changes nothing and is acknowledged. "
                  "The success answer is the provider's own acknowledgement (the mock: `{\"received\": true}`).",
      requestBody={"required": True, "content": {"application/json": {"schema": {"type": "object"}},
                                                  "application/x-www-form-urlencoded": {"schema": {"type": "object"}}}},
      responses={"200": {"schema": NotificationAckSchema, "description": "Acknowledged."},
                 **error_responses(401, 404, 413)})
async def provider_notification(request: web.Request) -> web.Response:
    body = await request.read()
    if len(body) > MAX_NOTIFICATION_BYTES:  # no provider sends more; refused before any parsing
        raise web.HTTPRequestEntityTooLarge(MAX_NOTIFICATION_BYTES, len(body))
    result = await request.app[USE_CASES].handle_notification(HandleNotificationCommand(
        request.match_info["provider"], dict(request.headers), body))
    ack = result.acknowledgement
    # The plugin's Content-Type verbatim, parameters and all (`text/plain;charset=utf-8`): aiohttp's
    # `content_type=` would refuse one that carries its charset.
    return web.Response(status=ack.status, body=ack.body, headers={"Content-Type": ack.content_type})
