"""The OpenAPI 3 document at `/api/docs/swagger.json` and Swagger UI at `/api/docs`.

Built once per process from the handlers' aiohttp-apispec decorators (`docs.py`). aiohttp-apispec
mutates the decorated handlers while it builds a spec (a second app would lose its request
schemas), so the build runs on copies of their `__apispec__`; and it writes request bodies as
Swagger 2 `in: body` parameters, which are turned into OpenAPI 3 `requestBody` objects here.

Then every operation gets, without its handler asking for it, what client generators and
Swagger UI's "Try it out" need:

- an `operationId`: the handler's name in camelCase (`purchase_receives` → `purchaseReceives`)
  unless `@docs(operationId=…)` names one; a name two handlers share is qualified with the
  handler's module (`receives.quote` → `receivesQuote`);
- the `Accept-Language` request header (Chinese names and messages) on the API's own routes;
- the headers of its responses (`X-Request-ID` on all, `Idempotent-Replayed` on the answers a
  POST with an `Idempotency-Key` replays, `Retry-After` on 429 and 503), and 405, 422 (unknown
  query parameters are refused everywhere) and 429 responses;
- examples: the request body's (from its fields' examples, or `@docs(request_examples=…)`), one
  per error code of each error response (with `details` fitted to the operation's own input), the
  response objects' (`docs.RESPONSE_EXAMPLES`) and an operation's own (`@docs(response_examples=…)`);
- `servers: [{"url": "/"}]`: the origin the document was read from, so "Try it out" calls the
  server that served it, whatever name it was reached by.
"""
from __future__ import annotations

import copy
import importlib.util
import re
from pathlib import Path

import orjson
from aiohttp import web

from entrypoints.http.docs import ERROR_CODES, RESPONSE_EXAMPLES, error_example, error_response
from entrypoints.http.keys import CONFIG
from entrypoints.http.schemas import FLOWS, METHOD_IDS, PLAN_IDS, SESSION_STATUSES, STATUSES, TYPES
from ports.use_cases.settings import return_url_pattern

TITLE = "membership-payments API"
VERSION = "1.0.0"
SPEC_PATH = "/api/docs/swagger.json"
UI_PATH = "/api/docs"
STATIC_PATH = "/api/docs/static"
NO_NUL_PATTERN = "^[^\\u0000]*$"  # request strings never hold NUL (refused with 422)
DESCRIPTION = (
    "The payments and membership API: buy receives, change plan, pay through payment sessions, read "
    "the membership and the history. Money is an integer number of minor units (fen) with a "
    "`currency`. Every error has the shape `{\"error\": {\"code\", \"message\", \"details\"}}`. "
    "Every POST takes an `Idempotency-Key`. Authenticate with a bearer JWT (HS256).")
SERVERS = [{"url": "/", "description": "The server that served this document."}]
HEADERS = {
    "X-Request-ID": {"description": "Names the request in the service's logs: the caller's own "
                                    "`X-Request-ID` if it was 1-128 of `[A-Za-z0-9._:-]`, else a new one.",
                     "required": True,
                     "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
                     "example": "5b0f3a7e9c1d4e2f8a6b7c9d0e1f2a3b"},
    "Idempotent-Replayed": {"description": "`true` when this is the stored answer to an earlier "
                                           "request with the same `Idempotency-Key` and body.",
                            "required": False, "schema": {"type": "string", "enum": ["true"]}},
    "Retry-After": {"description": "Seconds to wait before trying again.", "required": False,
                    "schema": {"type": "integer", "minimum": 0}, "example": 12},
}
ACCEPT_LANGUAGE = {
    "name": "Accept-Language", "in": "header", "required": False,
    "description": "`zh-CN` (or any `zh`) for Chinese method and plan names and error messages; "
                   "English otherwise. Codes, ids and amounts are the same in every language.",
    "schema": {"type": "string"}, "example": "zh-CN,zh;q=0.9,en;q=0.8",
}
REPLAYED_STATUSES = re.compile(r"^(2\d\d|409)$")  # the answers an Idempotency-Key keeps and replays
ALWAYS = (405, 422, 429)  # statuses every operation may answer
# The operations that open or charge a payment, asked of the risk gate first (docs/risk.md).
RISK_GATED = frozenset({("post", "/api/v1/payments/receives"), ("post", "/api/v1/payments/plan"),
                        ("post", "/api/v1/payments/sessions")})
RISK_DECLINED = {"description": "`risk_declined`: refused by a risk rule (daily amount, failed attempts) or "
                                "because an admin blocked the user; nothing was opened or charged.",
                 "examples": {"risk_declined": {"summary": "risk_declined", "value": error_example("risk_declined")}},
                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
NAMED_ENUMS = {"PlanId": PLAN_IDS, "PaymentMethodId": METHOD_IDS, "TransactionType": TYPES,
               "TransactionStatus": STATUSES, "SessionStatus": SESSION_STATUSES, "PaymentFlow": FLOWS}


_documents: dict[tuple[frozenset[str], bool], bytes] = {}


def openapi_document(app: web.Application, return_url_hosts: frozenset[str]) -> bytes:
    """The document for `app`'s routes, whose `return_url` rule depends on the configured hosts
    (built once per process, host set and environment: production has fewer routes, e.g. no test clock)."""
    key = (return_url_hosts, app[CONFIG].is_production)
    if key not in _documents:
        _documents[key] = orjson.dumps(build_document(app, return_url_hosts))
    return _documents[key]


def build_document(app: web.Application, return_url_hosts: frozenset[str]) -> dict:
    """The document of `app`'s routes, built anew."""
    document, examples = _build(app)
    _describe_what_marshmallow_cannot(document, return_url_hosts)
    _fit_for_generators(document)
    _complete_operations(document, examples, example_return_url(return_url_hosts))
    return document


def _build(app: web.Application) -> tuple[dict, dict]:
    """aiohttp-apispec's document of `app`, and the operations' own examples (`request_examples`,
    `response_examples`), by (method, path)."""
    from aiohttp_apispec import AiohttpApiSpec
    from aiohttp_apispec.utils import get_path

    apispec = AiohttpApiSpec(url=None, title=TITLE, version=VERSION, openapi_version="3.0.3",
                             info={"description": DESCRIPTION})
    apispec.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    # (aiohttp's automatic HEAD beside a GET is not an operation of its own)
    routes = [route for route in app.router.routes()
              if hasattr(route.handler, "__apispec__") and route.method not in ("HEAD", "OPTIONS")]
    derived: dict[tuple[str, str], tuple[str, str]] = {}
    examples: dict[tuple[str, str], dict] = {}
    for route in routes:
        handler, method = route.handler, route.method.lower()
        original = handler.__apispec__
        annotations = {**original, "schemas": list(original["schemas"]),
                       "parameters": list(original["parameters"]), "responses": dict(original["responses"])}
        key = (method, get_path(route))
        examples[key] = {name: annotations.pop(name) for name in ("request_examples", "response_examples")
                         if name in annotations}
        derived[key] = (handler.__name__, handler.__module__.rsplit(".", 1)[-1])
        handler.__apispec__ = annotations
        try:
            apispec._register_route(route, method, handler)
        finally:
            handler.__apispec__ = original
    document = apispec.swagger_dict()
    _name_operations(document, derived)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            _body_parameter_to_request_body(operation)
    return document, examples


def camel_case(name: str) -> str:
    first, *rest = [word for word in re.split(r"[^A-Za-z0-9]+", name) if word]
    return first[0].lower() + first[1:] + "".join(word[0].upper() + word[1:] for word in rest)


def _name_operations(document: dict, handlers: dict[tuple[str, str], tuple[str, str]]) -> None:
    """An `operationId` on every operation that has none: its handler's name, or, where several
    handlers share that name, the handler's module and name; unique, or the build fails."""
    operations = {(method, path): operation for path, by_method in document.get("paths", {}).items()
                  for method, operation in by_method.items()}
    taken = [op["operationId"] for op in operations.values() if "operationId" in op]
    unnamed = [key for key, op in operations.items() if "operationId" not in op]
    plain = {key: camel_case(handlers[key][0]) for key in unnamed}
    for key in unnamed:
        name = plain[key]
        if name in taken or list(plain.values()).count(name) > 1:
            name = camel_case(f"{handlers[key][1]}_{handlers[key][0]}")
        operations[key]["operationId"] = name
    ids = [op["operationId"] for op in operations.values()]
    duplicates = sorted({name for name in ids if ids.count(name) > 1})
    if duplicates:
        raise ValueError(f"operationIds used twice: {duplicates}; name them with @docs(operationId=...)")


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


def example_return_url(return_url_hosts: frozenset[str]) -> str:
    """A `return_url` the service accepts: a frontend's page on an allowed host."""
    host = "localhost" if "localhost" in return_url_hosts or not return_url_hosts else sorted(return_url_hosts)[0]
    return f"http://{host}:3000/checkout/done"


def _describe_what_marshmallow_cannot(document: dict, return_url_hosts: frozenset[str]) -> None:
    """Rules the request schemas enforce in code, written into the document so that clients
    (and schemathesis) know them: the `return_url` hosts, no NUL in request strings, ISO dates
    or date-times in filters, and `payment_method` being required for upgrades."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    return_url = {"type": "string", "nullable": True, "maxLength": 2048,
                  "pattern": return_url_pattern(return_url_hosts),
                  "example": example_return_url(return_url_hosts),
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
        method = change["properties"]["payment_method"]
        required_method = {k: v for k, v in method.items() if k not in ("nullable", "default")}
        required_method["enum"] = [m for m in method["enum"] if m is not None]
        schemas["ChangePlanRequest"] = {"oneOf": [
            {**change, "title": "ChangeToBasicRequest", "properties": {
                **change["properties"], "new_plan": {"type": "string", "enum": ["basic"], "example": "basic"}}},
            {**change, "title": "ChangeToPaidPlanRequest", "required": sorted({*change.get("required", []), "payment_method"}),
             "properties": {**change["properties"],
                            "new_plan": {"type": "string", "enum": paid, "example": paid[0]},
                            "payment_method": required_method}},
        ], "description": "`payment_method` is required for upgrades (a paid plan above the current one)."}
        _one_way_to_pay(schemas, "ChangePlanRequest")
    _one_way_to_pay(schemas, "PurchaseReceivesRequest")
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") in ("date_from", "date_to") and parameter.get("in") == "query":
                    parameter["schema"] = {"anyOf": [{"type": "string", "format": "date"},
                                                     {"type": "string", "format": "date-time"}]}


def _one_way_to_pay(schemas: dict, name: str) -> None:
    """`payment_method` or `saved_method_id` (a one-click payment with a saved method), never both,
    written into each branch of the request schema that names them (`not` both). A purchase's
    `payment_method` stays documented as required (its description says "unless
    `saved_method_id`"): an `anyOf` of the two would leave client generators no request model."""
    schema = schemas.get(name)
    if schema is None:
        return
    for branch in schema.get("oneOf", [schema]):
        properties = branch.get("properties", {})
        if "saved_method_id" not in properties:
            continue
        for field in ("payment_method", "saved_method_id"):
            properties[field] = {k: v for k, v in properties[field].items() if k not in ("nullable", "default")}
            if "enum" in properties[field]:
                properties[field]["enum"] = [m for m in properties[field]["enum"] if m is not None]
        properties["saved_method_id"].pop("example", None)
        if name == "PurchaseReceivesRequest":  # generators need one object: the method is documented required
            branch["required"] = sorted({*branch.get("required", []), "payment_method"})
        branch["not"] = {"required": ["payment_method", "saved_method_id"]}
        branch["description"] = ((branch.get("description", "") + " ").lstrip() +
                                 "Pay with `payment_method`, or one-click with `saved_method_id` (not both).")


def _fit_for_generators(document: dict) -> None:
    """Shapes client generators turn into plain types. An enum with a known set of values becomes
    a named schema (`PlanId`, …: one type in a generated client, not one per field); a nullable
    enum or object is `anyOf: [it, null]` (what OpenAPI 3.0.3 means by a nullable enum, and what
    generators read as `X | None`), where marshmallow writes `null` into the enum or an empty
    nullable object beside the `$ref`."""
    schemas = document["components"]["schemas"]
    for name, values in NAMED_ENUMS.items():
        schemas[name] = {"type": "string", "enum": list(values)}
    by_values = {tuple(values): name for name, values in NAMED_ENUMS.items()}

    def fit(node: object, top: bool = False) -> None:
        if isinstance(node, list):
            for item in node:
                fit(item)
        if not isinstance(node, dict):
            return
        for value in node.values():
            fit(value)
        enum = node.get("enum")
        if isinstance(enum, list) and len(enum) > 1 and not top:
            values = tuple(v for v in enum if v is not None)
            named = {"$ref": f"#/components/schemas/{by_values[values]}"} if values in by_values else \
                {"type": node["type"], "enum": list(values)}
            if None in enum:
                for key in ("type", "enum", "nullable", "default"):
                    node.pop(key, None)
                node["anyOf"] = [named, {"type": named.get("type", "string"), "nullable": True, "enum": [None]}]
            elif "$ref" in named:
                for key in ("type", "enum"):
                    node.pop(key)
                node["allOf"] = [named]
        choices = node.get("anyOf")
        if isinstance(choices, list) and {"type": "object", "nullable": True} in choices:
            node["anyOf"] = [c for c in choices if c != {"type": "object", "nullable": True}] + \
                [{"type": "object", "nullable": True, "enum": [None]}]

    for name, schema in schemas.items():
        fit(schema, top=name in NAMED_ENUMS)
    fit(document.get("paths", {}))


def _complete_operations(document: dict, examples: dict, return_url: str) -> None:
    document["servers"] = SERVERS
    components = document["components"]
    components["headers"] = HEADERS
    for name, example in RESPONSE_EXAMPLES.items():
        if name in components["schemas"]:
            components["schemas"][name]["example"] = example
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            body = _request_body_schema(document, operation)
            own = examples.get((method, path), {})
            _add_request_example(operation, body, own.get("request_examples"), return_url)
            responses = operation.setdefault("responses", {})
            for status, named in own.get("response_examples", {}).items():
                responses[status]["content"]["application/json"]["examples"] = named
            if (method, path) in RISK_GATED:
                responses.setdefault("403", copy.deepcopy(RISK_DECLINED))
            for status in ALWAYS:
                if status != 422 or "security" in operation:  # the query parameters of the API's own routes
                    responses.setdefault(str(status), _plain(error_response(status)))
            if "security" in operation:  # the API's own routes answer in the negotiated language
                operation.setdefault("parameters", []).append(dict(ACCEPT_LANGUAGE))
            idempotent = any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", []))
            for status, response in responses.items():
                _move_examples_into_content(response)
                if status.isdigit() and int(status) >= 400:
                    _fit_error_examples(document, response, int(status), path, operations, operation, body, idempotent)
                headers = response.setdefault("headers", {})
                headers["X-Request-ID"] = {"$ref": "#/components/headers/X-Request-ID"}
                if idempotent and REPLAYED_STATUSES.match(status):
                    headers["Idempotent-Replayed"] = {"$ref": "#/components/headers/Idempotent-Replayed"}
                if status in ("429", "503"):
                    headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}


def _plain(response: dict) -> dict:
    """An error response of `docs.error_response`, as an OpenAPI 3 response."""
    return {"description": response["description"], "examples": response["examples"],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _move_examples_into_content(response: dict) -> None:
    """aiohttp-apispec leaves a response's `examples` beside its content (Swagger 2's place)."""
    examples = response.pop("examples", None)
    if examples and "application/json" in response.get("content", {}):
        response["content"]["application/json"]["examples"] = examples


def _resolve(document: dict, schema: dict | None) -> dict:
    while schema and "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema or {}


def _request_body_schema(document: dict, operation: dict) -> dict:
    """The JSON body's schema; of a `oneOf`, every branch's properties (enums joined) and what
    they all require."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = _resolve(document, content.get("schema"))
    if "oneOf" not in schema:
        return schema
    branches = [_resolve(document, branch) for branch in schema["oneOf"]]
    properties: dict[str, dict] = {}
    for branch in branches:
        for name, prop in branch.get("properties", {}).items():
            known = properties.setdefault(name, dict(prop))
            if "enum" in known and "enum" in prop:
                known["enum"] = [*known["enum"], *(v for v in prop["enum"] if v not in known["enum"])]
    required = set.intersection(*(set(branch.get("required", [])) for branch in branches))
    return {"type": "object", "properties": properties, "required": sorted(required)}


def _add_request_example(operation: dict, body: dict, examples: dict | None, return_url: str) -> None:
    """The JSON body's example: the operation's own named ones, else its fields' examples."""
    media = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if media is None:
        return
    if examples:
        media["examples"] = {name: {**example, "value": {
            k: (return_url if k == "return_url" else v) for k, v in example["value"].items()}}
            for name, example in examples.items()}
        return
    example = {name: prop["example"] for name, prop in body.get("properties", {}).items() if "example" in prop}
    if set(body.get("required", [])) <= set(example):
        media["example"] = example


def _fit_error_examples(document: dict, response: dict, status: int, path: str, operations: dict,
                        operation: dict, body: dict, idempotent: bool) -> None:
    """Keep the codes this operation can answer, with messages and `details` about its own input."""
    examples = response.get("content", {}).get("application/json", {}).get("examples")
    if not examples:
        return
    for code in list(examples):
        if ((code == "idempotency_key_reused" or code == "idempotency_request_in_progress") and not idempotent) or \
                (code == "payment_method_unavailable" and "payment_method" not in body.get("properties", {})):
            del examples[code]
    error = lambda code: examples[code]["value"]["error"]  # noqa: E731
    if "method_not_allowed" in examples:
        allowed = ", ".join(sorted({m.upper() for m in operations} | {"OPTIONS"}))
        error("method_not_allowed")["message"] = f"Method not allowed here (allowed: {allowed})."
    if "not_found" in examples:
        error("not_found")["message"] = _not_found_message(path, body)
    if "validation_error" in examples:
        field, message = _invalid_field(document, operation, body)
        error("validation_error")["details"] = {field: [message]}
    if not examples and status in ERROR_CODES:  # e.g. a 409 whose codes all needed an Idempotency-Key
        response["content"]["application/json"]["examples"] = _plain(error_response(status))["examples"]


def _not_found_message(path: str, body: dict) -> str:
    if "{session_id}" in path:
        return "Payment session ps_f2ab8309811cc6eba8664a2d not found."
    if "{transaction_id}" in path or "transaction_id" in body.get("properties", {}):
        return "Transaction txn_fd58dacddb45833b74e2f4df not found."
    if "{provider}" in path:
        return "No payment provider named 'paypal'."
    return "There is nothing at this address."


def _invalid_field(document: dict, operation: dict, body: dict) -> tuple[str, str]:
    """A field of the operation's input and what the service says when it is wrong."""
    fields = [*body.get("properties", {}).items(),
              *((p["name"], p.get("schema", {})) for p in operation.get("parameters", []) if p.get("in") == "query")]
    for name, schema in fields:
        schema = _resolve(document, (schema.get("anyOf") or schema.get("allOf") or [schema])[0])
        if schema.get("type") == "integer" and "minimum" in schema and "maximum" in schema:
            return name, (f"Must be greater than or equal to {schema['minimum']} and less than or equal to "
                          f"{schema['maximum']}.")
        if schema.get("enum"):
            return name, "Must be one of: " + ", ".join(str(v) for v in schema["enum"] if v is not None) + "."
        if schema.get("type") == "string" and "minLength" in schema and "maxLength" in schema:
            return name, f"Length must be between {schema['minLength']} and {schema['maxLength']}."
    return "expand", "Unknown field."


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
