"""The route registry: every route declares its method, path, who may use it, its body and its
summary in one decorator; the OpenAPI document at ``/api/v1/openapi.json`` is built from the
declarations, so a route is documented by declaring it.

Usage (a feature module)::

    routes = Routes(tag="checkins")

    @routes.api("POST", "/api/v1/checkins", roles=("student", "staff"), body=CheckinBody,
                response=CheckinOut, summary="Submit today's check-in")
    async def submit(request: web.Request, body: CheckinBody) -> web.Response: ...

    @routes.page("GET", "/checkin", roles=ANY_USER)
    async def checkin_page(request: web.Request) -> web.StreamResponse: ...

and ``server.app`` calls ``routes.register(app)`` for each feature's ``routes``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from aiohttp import web

from server.web import auth, state
from server.web.errors import BadRequest, InvalidField, TooLarge
from shared.config import from_mapping
from shared.errors import ConfigError

PUBLIC: tuple[str, ...] = ("*public*",)
"""Anyone, logged in or not."""
ANY_USER: tuple[str, ...] = ("*any*",)
"""Any logged-in person (any role)."""
ADMINS: tuple[str, ...] = ("school_admin", "system_admin")
STAFF_ROLES: tuple[str, ...] = ("counsellor", "school_admin", "system_admin")
DEPARTMENT_VIEWERS: tuple[str, ...] = ("counsellor", "school_admin")
"""Roles that see people and their health and pass data (a counsellor: their departments); never
the system admin (separation of duties, docs/security.md)."""

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_JSON_BYTES = 256 * 1024

Handler = Callable[..., Awaitable[web.StreamResponse]]
T = TypeVar("T")

@dataclass(frozen=True)
class RouteSpec:
    """One declared route.

    Attributes:
        kind: ``api`` (JSON, error envelope, OpenAPI) or ``page`` (HTML).
        roles: role names allowed, or :data:`PUBLIC` / :data:`ANY_USER`.
        allow_setup: usable by an account still in first-login setup (initial password or
            unverified phone); otherwise such accounts get 403 ``setup_required``.
        body: dataclass of the JSON body (API) parsed strictly and passed as second argument.
        response: dataclass documenting the JSON answer (OpenAPI only).
        query: ``{name: description}`` of query parameters (OpenAPI only).
        csrf: check the CSRF token of unsafe page requests (forms); API requests instead need a
            JSON content type and a same-origin ``Origin`` header when one is sent.
        raw_body: the handler reads and checks the body itself (e.g. signed node requests,
            whose signature must be checked before the body is parsed); ``body`` then only
            documents it.
        max_body_bytes: largest JSON body accepted (413 ``body_too_large`` beyond; default 256 KiB).
        upload: names of file fields: the route also accepts ``multipart/form-data`` carrying the
            session's ``csrf_token`` (as forms do) and the handler reads the form itself.
        keep_form: a form's page (``/checkin``): a submission refused for a lapsed session or a
            stale CSRF token is kept as a draft and shown there again (:mod:`server.web.form_drafts`).
    """

    kind: Literal["api", "page"]
    method: str
    path: str
    handler: Handler
    summary: str
    roles: tuple[str, ...]
    allow_setup: bool = False
    body: type | None = None
    response: type | None = None
    query: dict[str, str] = field(default_factory=dict)
    tag: str = ""
    csrf: bool = True
    raw_body: bool = False
    max_body_bytes: int = MAX_JSON_BYTES
    upload: tuple[str, ...] = ()
    keep_form: str | None = None


class Routes:
    """The routes of one feature module.

    Args:
        tag: OpenAPI tag grouping this module's API routes.
    """

    def __init__(self, tag: str = "") -> None:
        self.tag = tag
        self.specs: list[RouteSpec] = []

    def api(
        self,
        method: str,
        path: str,
        *,
        roles: tuple[str, ...],
        summary: str,
        body: type | None = None,
        response: type | None = None,
        query: dict[str, str] | None = None,
        allow_setup: bool = False,
        raw_body: bool = False,
        max_body_bytes: int = MAX_JSON_BYTES,
        upload: tuple[str, ...] = (),
    ) -> Callable[[Handler], Handler]:
        """Declare a JSON API route (path under ``/api/v1/``)."""
        if not path.startswith("/api/"):
            raise ValueError(f"API path {path!r} must start with /api/")

        def deco(fn: Handler) -> Handler:
            self.specs.append(RouteSpec("api", method.upper(), path, fn, summary, tuple(roles), allow_setup,
                                        body, response, dict(query or {}), self.tag, raw_body=raw_body,
                                        max_body_bytes=max_body_bytes, upload=tuple(upload)))
            return fn

        return deco

    def page(
        self, method: str, path: str, *, roles: tuple[str, ...], summary: str = "", allow_setup: bool = False,
        csrf: bool = True, keep_form: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Declare an HTML page or form handler."""

        def deco(fn: Handler) -> Handler:
            self.specs.append(RouteSpec("page", method.upper(), path, fn, summary, tuple(roles), allow_setup,
                                        tag=self.tag, csrf=csrf, keep_form=keep_form))
            return fn

        return deco

    def register(self, app: web.Application) -> None:
        """Add every declared route to ``app`` (wrapped with the role, CSRF and body checks)."""
        specs = app.get(state.ROUTES)
        if specs is None:
            specs = []
            app[state.ROUTES] = specs
        for spec in self.specs:
            app.router.add_route(spec.method, spec.path, _wrap(spec))
            specs.append(spec)


def _wrap(spec: RouteSpec) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        await auth.enforce(request, spec.kind, spec.roles, allow_setup=spec.allow_setup,
                           public=spec.roles == PUBLIC, any_user=spec.roles == ANY_USER)
        if spec.method in UNSAFE_METHODS:
            if spec.kind == "api" and spec.upload and request.content_type == "multipart/form-data":
                await auth.check_form_csrf(request)
                return await spec.handler(request)
            if spec.kind == "api":
                auth.check_api_origin(request)
            elif spec.csrf:
                await auth.check_form_csrf(request)
        if spec.kind == "api" and spec.raw_body:
            return await spec.handler(request)
        if spec.kind == "api" and spec.body is not None:
            return await spec.handler(request, await parse_body(request, spec.body, spec.max_body_bytes))
        if spec.kind == "api" and spec.method in UNSAFE_METHODS:
            data = await parse_json(request)  # a malformed body is refused even when none is needed
            if not isinstance(data, dict):
                raise BadRequest(f"body is {type(data).__name__}; expected a JSON object or nothing",
                                 code="malformed_json")
        return await spec.handler(request)

    handler.__name__ = getattr(spec.handler, "__name__", "handler")
    handler.__doc__ = spec.handler.__doc__
    if spec.keep_form is not None:
        from server.web.form_drafts import keeping

        return keeping(handler, spec.keep_form)
    return handler


async def parse_json(request: web.Request, limit_bytes: int = MAX_JSON_BYTES) -> Any:
    """The request's JSON body (``{}`` when empty).

    Raises:
        BadRequest: not JSON, not UTF-8 (a lone surrogate escape such as ``"\\ud800"`` included),
            nested too deeply for the parser.
        TooLarge: ``body_too_large``, larger than ``limit_bytes`` (default 256 KiB).
    """
    if request.content_length is not None and request.content_length > limit_bytes:
        raise TooLarge(f"body of {request.content_length} bytes is too large; at most {limit_bytes}")
    raw = await request.read()
    if len(raw) > limit_bytes:
        raise TooLarge(f"body is too large; at most {limit_bytes} bytes")
    if not raw.strip():
        return {}
    return decode_json(raw)


def _int64(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"integer {text[:24]}{'...' if len(text) > 24 else ''} is out of the 64-bit range")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:24]} is too large")
    return value


def _no_constant(text: str) -> float:
    raise ValueError(f"{text} is not a JSON number")


def decode_json(raw: bytes) -> Any:
    """Decode a JSON request body (bytes) into Python values.

    Raises:
        BadRequest: code ``malformed_json`` (400) when ``raw`` is not UTF-8 JSON, is nested too
            deeply for the parser (about 1,000 levels), holds a ``\\uXXXX`` escape that is half a
            surrogate pair (not text: no text column or encoder accepts it), an integer outside
            the signed 64-bit range (none fits an SQLite INTEGER or is meaningful as an id or count),
            ``NaN``/``Infinity`` (not JSON, RFC 8259 §6) or a number too large for a float.
    """
    try:
        data = json.loads(raw.decode("utf-8"), parse_int=_int64, parse_float=_finite_float,
                          parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}", code="malformed_json") from None
    except RecursionError:
        raise BadRequest("body is not valid JSON: nested too deeply", code="malformed_json") from None
    if b"\\u" in raw:
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest("body is not valid JSON: a \\u escape is half a surrogate pair",
                             code="malformed_json") from None
    return data


async def parse_body(request: web.Request, cls: type[T], limit_bytes: int = MAX_JSON_BYTES) -> T:
    """Parse the JSON body into dataclass ``cls``, strictly (unknown keys and wrong types refused).

    Raises:
        BadRequest: malformed JSON or not an object (400); larger than ``limit_bytes`` (413).
        InvalidField: a field is missing, unknown or of the wrong type (422; names the field).
    """
    data = await parse_json(request, limit_bytes)
    if not isinstance(data, dict):
        raise BadRequest(f"body is {type(data).__name__}; expected a JSON object", code="malformed_json")
    try:
        return from_mapping(cls, data, "body")
    except ConfigError as exc:
        raise InvalidField(exc.message) from None


def wire_shape(source: type, name: str, *, module: str, drop: tuple[str, ...] = (), doc: str | None = None) -> type:
    """The API shape of a stored row whose JSON leaves some of its fields out: a frozen dataclass
    named ``name`` with the fields of dataclass ``source`` (same names, types, defaults and order)
    but ``drop``, so that the row is declared once (``module``: the declaring module, for the
    OpenAPI component's name; ``doc``: its description, else ``source``'s).

    Raises:
        ValueError: ``drop`` names a field ``source`` does not have.
    """
    names = {f.name for f in dataclasses.fields(source)}
    if not set(drop) <= names:
        raise ValueError(f"{source.__name__} has no field {sorted(set(drop) - names)}")
    hints = get_type_hints(source)
    specs: list[Any] = []
    for f in dataclasses.fields(source):
        if f.name in drop:
            continue
        if f.default is not dataclasses.MISSING:
            specs.append((f.name, hints[f.name], field(default=f.default)))
        elif f.default_factory is not dataclasses.MISSING:
            specs.append((f.name, hints[f.name], field(default_factory=f.default_factory)))
        else:
            specs.append((f.name, hints[f.name]))
    cls = dataclasses.make_dataclass(name, specs, frozen=True)
    cls.__module__ = module
    cls.__doc__ = doc or source.__doc__
    return cls


# -- OpenAPI -------------------------------------------------------------------------------------

_PATH_PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?\}")


def json_schema(tp: Any, components: dict[str, Any], owners: dict[str, type] | None = None) -> dict[str, Any]:
    """JSON Schema of a type hint; dataclasses become ``$ref`` components.

    ``owners`` (component name -> dataclass) keeps two dataclasses of the same name apart (say
    ``MissingOut`` of two feature modules): the second is named ``<module>.<Name>``.
    """
    owners = {} if owners is None else owners
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        name = tp.__name__
        if owners.get(name, tp) is not tp:
            name = f"{tp.__module__.rsplit('.', 1)[-1]}.{tp.__name__}"
        if name not in components:
            owners[name] = tp
            components[name] = {}  # placeholder against recursion
            hints = get_type_hints(tp)
            props, required = {}, []
            for f in dataclasses.fields(tp):
                props[f.name] = json_schema(hints[f.name], components, owners)
                if f.metadata.get("bounds"):
                    props[f.name] = _with_bounds(props[f.name], f.metadata["bounds"])
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    required.append(f.name)
            schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
            if required:
                schema["required"] = required
            doc = (tp.__doc__ or "").strip().split("\n\n")[0]
            if doc and not doc.startswith(tp.__name__ + "("):
                schema["description"] = " ".join(doc.split())
            components[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin in (types.UnionType, typing.Union):
        args = [a for a in get_args(tp) if a is not type(None)]
        inner = json_schema(args[0], components, owners) if len(args) == 1 else {
            "anyOf": [json_schema(a, components, owners) for a in args]}
        return {"anyOf": [inner, {"type": "null"}]} if type(None) in get_args(tp) else inner
    if origin in (list, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return {"type": "array", "items": json_schema(args[0], components, owners) if args else {}}
    if origin is dict or tp is dict:
        return {"type": "object"}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if tp in simple:
        return {"type": simple[tp]}
    return {}


_SCHEMA_WORDS = {"minimum": ("minimum", "minimum"), "maximum": ("maximum", "maximum"),
                 "min_length": ("minLength", "minItems"), "max_length": ("maxLength", "maxItems"),
                 "pattern": ("pattern", "pattern")}


def _with_bounds(schema: dict[str, Any], limits: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the JSON Schema words of :func:`shared.config.bounds` (on the non-null
    branch of an optional field)."""
    if "anyOf" in schema and any(s.get("type") == "null" for s in schema["anyOf"]):
        return {"anyOf": [s if s.get("type") == "null" else _with_bounds(s, limits) for s in schema["anyOf"]]}
    out = dict(schema)
    for name, value in limits.items():
        word = _SCHEMA_WORDS[name][1 if out.get("type") == "array" else 0]
        if name == "pattern":
            value = f"^(?:{value})$"
        out[word] = value
    return out


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                           "retry_after_s": {"type": "integer"}},
        }},
    }


def openapi_document(specs: list[RouteSpec], *, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API routes in ``specs``."""
    components: dict[str, Any] = {"ErrorEnvelope": _error_schema()}
    owners: dict[str, type] = {"ErrorEnvelope": object}  # component name -> its dataclass
    paths: dict[str, Any] = {}
    for spec in specs:
        if spec.kind != "api":
            continue
        op: dict[str, Any] = {
            "summary": spec.summary,
            "operationId": f"{spec.method.lower()}_{spec.handler.__name__}",
            "x-roles": ["anyone"] if spec.roles == PUBLIC else (
                ["any logged-in user"] if spec.roles == ANY_USER else list(spec.roles)),
            "x-allowed-during-setup": spec.allow_setup,
        }
        if spec.tag:
            op["tags"] = [spec.tag]
        doc = (spec.handler.__doc__ or "").strip()
        if doc:
            op["description"] = doc
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in _PATH_PARAM.findall(spec.path)]
        params += [{"name": n, "in": "query", "required": False, "description": d, "schema": {"type": "string"}}
                   for n, d in spec.query.items()]
        if params:
            op["parameters"] = params
        if spec.body is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": json_schema(spec.body, components, owners)}},
                "x-max-body-bytes": spec.max_body_bytes}
        if spec.upload:
            form = {"type": "object", "required": ["csrf_token"], "properties": {
                "csrf_token": {"type": "string"},
                **{name: {"type": "string", "format": "binary"} for name in spec.upload}}}
            op.setdefault("requestBody", {"required": True, "content": {}})["content"]["multipart/form-data"] = {
                "schema": form}
        ok: dict[str, Any] = {"description": "success"}
        if spec.response is not None:
            ok["content"] = {"application/json": {"schema": json_schema(spec.response, components, owners)}}
        op["responses"] = {
            "200": ok,
            "default": {"description": "error", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}},
        }
        if spec.roles != PUBLIC:
            op["security"] = [{"sessionCookie": []}]
        oa_path = _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", spec.path)
        paths.setdefault(oa_path, {})[spec.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {"sessionCookie": {"type": "apiKey", "in": "cookie", "name": auth.SESSION_COOKIE}},
        },
    }
