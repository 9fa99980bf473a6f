"""The OpenAPI 3 document at `/api/docs/swagger.json` and Swagger UI at `/api/docs`.

Built once per process from the handlers' aiohttp-apispec decorators. aiohttp-apispec mutates
the decorated handlers while it builds a spec (a second app would lose its request schemas), so
the build runs on copies of their `__apispec__`; and it writes request bodies as Swagger 2
`in: body` parameters, which are turned into OpenAPI 3 `requestBody` objects here.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson
from aiohttp import web

from entrypoints.http.keys import CONFIG
from ports.use_cases.settings import return_url_pattern

TITLE = "membership-payments API"
VERSION = "1.0.0"
SPEC_PATH = "/api/docs/swagger.json"
UI_PATH = "/api/docs"
STATIC_PATH = "/api/docs/static"
NO_NUL_PATTERN = "^[^\\u0000]*$"  # request strings never hold NUL (refused with 422)


_documents: dict[frozenset[str], bytes] = {}


def openapi_document(app: web.Application, return_url_hosts: frozenset[str]) -> bytes:
    """The document for `app`'s routes, whose `return_url` rule depends on the configured hosts
    (built once per process and host set: every app of this service has the same routes)."""
    if return_url_hosts not in _documents:
        document = _build(app)
        _describe_what_marshmallow_cannot(document, return_url_hosts)
        _documents[return_url_hosts] = orjson.dumps(document)
    return _documents[return_url_hosts]


def _build(app: web.Application) -> dict:
    from aiohttp_apispec import AiohttpApiSpec

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
    for parameter in parameters:
        if "schema" not in parameter and parameter.get("in") == "path":
            parameter["schema"] = {"type": parameter.pop("type", "string"), "minLength": 1}
    bodies = [p for p in parameters if p.get("in") == "body"]
    if bodies:
        operation["parameters"] = [p for p in parameters if p.get("in") != "body"]
        operation["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": bodies[0]["schema"]}}}
    if not operation.get("parameters"):
        operation.pop("parameters", None)


def _describe_what_marshmallow_cannot(document: dict, return_url_hosts: frozenset[str]) -> None:
    """Rules the request schemas enforce in code, written into the document so that clients
    (and schemathesis) know them: the `return_url` hosts, no NUL in request strings, ISO dates
    or date-times in filters, and `payment_method` being required for upgrades."""
    schemas = document["components"]["schemas"]
    return_url = {"type": "string", "nullable": True, "maxLength": 2048,
                  "pattern": return_url_pattern(return_url_hosts),
                  "description": "Where a redirect flow sends the payer back; its host must be one of "
                                 "PAYMENTS_RETURN_URL_HOSTS (no open redirects)."}
    for name, schema in schemas.items():
        if "return_url" in schema.get("properties", {}):
            schema["properties"]["return_url"] = return_url
        if name.endswith("Request"):
            for prop in schema.get("properties", {}).values():
                if prop.get("type") == "string" and "enum" not in prop and "pattern" not in prop:
                    prop["pattern"] = NO_NUL_PATTERN
    change = schemas.get("ChangePlanRequest")
    if change is not None:
        paid = [p for p in change["properties"]["new_plan"]["enum"] if p != "basic"]
        schemas["ChangePlanRequest"] = {"oneOf": [
            {**change, "properties": {**change["properties"], "new_plan": {"type": "string", "enum": ["basic"]}}},
            {**change, "required": sorted({*change.get("required", []), "payment_method"}),
             "properties": {**change["properties"], "new_plan": {"type": "string", "enum": paid},
                            "payment_method": {k: v for k, v in change["properties"]["payment_method"].items()
                                               if k != "nullable"}}},
        ], "description": "`payment_method` is required for upgrades (a paid plan above the current one)."}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") in ("date_from", "date_to") and parameter.get("in") == "query":
                    parameter["schema"] = {"anyOf": [{"type": "string", "format": "date"},
                                                     {"type": "string", "format": "date-time"}]}


async def spec_handler(request: web.Request) -> web.Response:
    document = openapi_document(request.app, request.app[CONFIG].return_url_hosts)
    return web.Response(body=document, content_type="application/json")


_ui_page: str | None = None


def _static_folder() -> Path:
    """Swagger UI's files, shipped inside aiohttp-apispec (found without importing it)."""
    spec = importlib.util.find_spec("aiohttp_apispec")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "static"


async def ui_handler(request: web.Request) -> web.Response:
    global _ui_page
    if _ui_page is None:
        from jinja2 import Template

        template = Template((_static_folder() / "index.html").read_text())
        _ui_page = template.render(path=SPEC_PATH, static=STATIC_PATH, display_configurations="{}")
    return web.Response(text=_ui_page, content_type="text/html")


def add_docs_routes(app: web.Application) -> None:
    app.router.add_get(SPEC_PATH, spec_handler, allow_head=False)
    app.router.add_get(UI_PATH, ui_handler, allow_head=False)
    app.router.add_static(STATIC_PATH, _static_folder())
