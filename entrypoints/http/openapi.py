"""The OpenAPI 3 document at `/api/docs/swagger.json` and Swagger UI at `/api/docs`.

Built once per process from the handlers' aiohttp-apispec decorators. aiohttp-apispec mutates
the decorated handlers while it builds a spec (a second app would lose its request schemas), so
the build runs on copies of their `__apispec__`; and it writes request bodies as Swagger 2
`in: body` parameters, which are turned into OpenAPI 3 `requestBody` objects here.
"""
from __future__ import annotations

from pathlib import Path

import aiohttp_apispec
import orjson
from aiohttp import web
from aiohttp_apispec import AiohttpApiSpec
from jinja2 import Template

TITLE = "membership-payments API"
VERSION = "1.0.0"
SPEC_PATH = "/api/docs/swagger.json"
UI_PATH = "/api/docs"
STATIC_PATH = "/api/docs/static"
_built: bytes | None = None


def openapi_document(app: web.Application) -> bytes:
    global _built
    if _built is None:
        _built = orjson.dumps(_build(app))
    return _built


def _build(app: web.Application) -> dict:
    apispec = AiohttpApiSpec(url=None, title=TITLE, version=VERSION, openapi_version="3.0.3", info={
        "description": "The payments and membership API of ../shared/api/CONTRACT.md. Money is integer minor "
                       "units (fen) with a `currency`; every error has the shape "
                       "`{\"error\": {\"code\", \"message\", \"details\"}}`."})
    apispec.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    handlers = {route.handler for route in app.router.routes() if hasattr(route.handler, "__apispec__")}
    originals = {handler: handler.__apispec__ for handler in handlers}
    try:
        for handler, original in originals.items():
            handler.__apispec__ = {**original, "schemas": list(original["schemas"]),
                                   "parameters": list(original["parameters"]), "responses": dict(original["responses"])}
        for route in app.router.routes():
            apispec._register_route(route, route.method.lower(), route.handler)
    finally:
        for handler, original in originals.items():
            handler.__apispec__ = original
    document = apispec.swagger_dict()
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            _body_parameter_to_request_body(operation)
    return document


def _body_parameter_to_request_body(operation: dict) -> None:
    operation.pop("produces", None)
    parameters = operation.get("parameters", [])
    bodies = [p for p in parameters if p.get("in") == "body"]
    if bodies:
        operation["parameters"] = [p for p in parameters if p.get("in") != "body"]
        operation["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": bodies[0]["schema"]}}}
    if not operation.get("parameters"):
        operation.pop("parameters", None)


async def spec_handler(request: web.Request) -> web.Response:
    return web.Response(body=openapi_document(request.app), content_type="application/json")


_STATIC = Path(aiohttp_apispec.__file__).parent / "static"
_ui_page: str | None = None


async def ui_handler(request: web.Request) -> web.Response:
    global _ui_page
    if _ui_page is None:
        template = Template((_STATIC / "index.html").read_text())
        _ui_page = template.render(path=SPEC_PATH, static=STATIC_PATH, display_configurations="{}")
    return web.Response(text=_ui_page, content_type="text/html")


def add_docs_routes(app: web.Application) -> None:
    app.router.add_get(SPEC_PATH, spec_handler, allow_head=False)
    app.router.add_get(UI_PATH, ui_handler, allow_head=False)
    app.router.add_static(STATIC_PATH, _STATIC)
