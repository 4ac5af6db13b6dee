"""Who may read and who may act: bearer tokens with a role, checked for every route.

Two environment variables, named by the config's `[operators]` table, hold the tokens:
`token_env` (default `WINKEL_OPERATOR_TOKEN`) the operators', who read and act, and
`viewer_token_env` (default `WINKEL_VIEWER_TOKEN`) the viewers', who only read. Each value is
either one token, which signs in as `operator` (or `viewer`), or comma-separated `name=token`
pairs so that each person is audited under their own name (`alice=s3cret,bob=0ther`).
Tokens are compared in constant time, every configured token every time.

Every route needs a token (`Authorization: Bearer <token>`), except what carries no personal
data: the page and its static files (they hold no data; the page signs in before it asks for
any), the webhooks (they authenticate with the marketplaces' own signatures), the health and
metrics endpoints and the API description. Without a valid token: 401; a viewer asking for an
action: 403.

Browsers cannot set headers on a WebSocket, and a token in the URL ends up in logs, so the
dashboard trades its bearer token for a one-time ticket (`POST /api/ws-ticket`, valid for
`TICKET_SECONDS`) and offers it as a WebSocket subprotocol: `new WebSocket(url, ["winkel.v1",
"winkel.ticket.<ticket>"])`. The server answers with `winkel.v1`. Other clients may send
`Authorization: Bearer` on the upgrade request itself.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping

import orjson
from aiohttp import web
from redis.exceptions import RedisError

from engine.domain.exceptions import DependencyUnavailable
from web.errors import refusal
from web.state import PRINCIPALS, REDIS, Principal, Role

__all__ = ["Principal", "Role"]

DEFAULT_OPERATOR_ID = "operator"
DEFAULT_VIEWER_ID = "viewer"
#: Operator ids end up in audit entries: keep them short, plain names.
_ID_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")
PRINCIPAL = web.RequestKey("principal", Principal)

#: Open without a token: no personal data is served there (module doc).
OPEN_PATHS = frozenset(
    {"/", "/stuck", "/dead-letters", "/healthz", "/readyz", "/metrics", "/api/openapi.json"}
)
#: `/orders/<uuid>` is the page (index.html) too: it holds no data, the API behind it does.
OPEN_PREFIXES = ("/static/", "/webhooks/", "/orders/")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: POST routes that only read (a viewer may use them).
READ_POSTS = frozenset({"/api/ws-ticket"})
WEBSOCKET_PATH = "/ws"
WEBSOCKET_PROTOCOL = "winkel.v1"
TICKET_PROTOCOL_PREFIX = "winkel.ticket."
TICKET_SECONDS = 30
TICKET_PREFIX = "winkel:ws-ticket:"


def operators_from(raw: str, default_id: str = DEFAULT_OPERATOR_ID) -> dict[str, str]:
    """Token -> person, from an environment variable's value (module doc)."""
    entries = [part.strip() for part in raw.split(",") if part.strip()]
    if len(entries) == 1 and "=" not in entries[0]:
        return {entries[0]: default_id}
    people: dict[str, str] = {}
    for entry in entries:
        name, separator, token = (part.strip() for part in entry.partition("="))
        if not separator or not name or not token or not set(name) <= _ID_CHARACTERS:
            raise ValueError("tokens must be one token or `name=token` pairs")
        people[token] = name
    return people


def principals(operators: Mapping[str, str], viewers: Mapping[str, str]) -> dict[str, Principal]:
    """Token -> principal; a token may not be both an operator's and a viewer's."""
    shared = set(operators) & set(viewers)
    if shared:
        raise ValueError("the same token is configured for an operator and a viewer")
    found = {token: Principal(name, Role.VIEWER) for token, name in viewers.items()}
    found.update({token: Principal(name, Role.OPERATOR) for token, name in operators.items()})
    return found


def _bytes(text: str) -> bytes:
    # Header values arrive surrogate-escaped when they are not UTF-8; this never raises.
    return text.encode("utf-8", "backslashreplace")


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def principal_for(token: str | None, known: Mapping[str, Principal]) -> Principal | None:
    """The principal of `token`; every configured token is compared, in constant time."""
    if token is None:
        return None
    given = _bytes(token)
    found = None
    for candidate, principal in known.items():
        if hmac.compare_digest(given, _bytes(candidate)):
            found = principal
    return found


def operator_for(token: str | None, operators: Mapping[str, str]) -> str | None:
    """The operator id of `token` among `operators` (token -> id)."""
    principal = principal_for(token, principals(operators, {}))
    return None if principal is None else principal.name


def _unauthorized(reason: str) -> web.HTTPException:
    return refusal(
        web.HTTPUnauthorized,
        "unauthorized",
        reason,
        headers={"WWW-Authenticate": 'Bearer realm="winkel"'},
    )


def signed_in(request: web.Request) -> Principal:
    """The principal the auth middleware found for this request (401 if there is none)."""
    try:
        return request[PRINCIPAL]
    except KeyError:
        raise _unauthorized("sign in with a viewer or operator token") from None


def require_operator(request: web.Request) -> str:
    """The signed-in operator's id: 401 without a token, 403 for a viewer."""
    principal = signed_in(request)
    if not principal.may_act:
        raise refusal(
            web.HTTPForbidden, "forbidden", "viewers may only read; this needs an operator token"
        )
    return principal.name


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def offered_ticket(request: web.Request) -> str | None:
    """The ticket among the WebSocket subprotocols the client offered, if any."""
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    for protocol in (part.strip() for part in offered.split(",")):
        if protocol.startswith(TICKET_PROTOCOL_PREFIX):
            ticket = protocol.removeprefix(TICKET_PROTOCOL_PREFIX)
            return ticket if ticket.isascii() and ticket.isalnum() else None
    return None


async def _redeem(request: web.Request, ticket: str) -> Principal | None:
    try:
        raw = await request.app[REDIS].getdel(TICKET_PREFIX + ticket)
    except RedisError as exc:
        raise DependencyUnavailable(f"session store: {exc}", dependency="redis") from None
    if raw is None:
        return None
    document = orjson.loads(raw)
    return Principal(str(document["name"]), Role(document["role"]))


async def _principal(request: web.Request) -> Principal | None:
    token = bearer_token(request.headers.get("Authorization"))
    if token is not None:
        known: dict[str, Principal] = request.app[PRINCIPALS]
        return principal_for(token, known)
    if request.path == WEBSOCKET_PATH:
        ticket = offered_ticket(request)
        if ticket is not None:
            return await _redeem(request, ticket)
    return None


@web.middleware
async def require_sign_in(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """401 without a valid token, 403 for a viewer's action; open paths pass (module doc).

    Paths that match no route pass through too, so they answer 404 / 405 as usual.
    """
    if is_open(request.path) or request.match_info.http_exception is not None:
        return await handler(request)
    principal = await _principal(request)
    acting = request.method not in READ_METHODS and request.path not in READ_POSTS
    if principal is None or (acting and not principal.may_act):
        # Read (bounded by client_max_size) what was sent before refusing it, so the
        # connection is left clean for its next request.
        if request.can_read_body:
            with contextlib.suppress(Exception):
                await request.read()
        if principal is None:
            raise _unauthorized("sign in with a viewer or operator token")
        raise refusal(
            web.HTTPForbidden, "forbidden", "viewers may only read; this needs an operator token"
        )
    request[PRINCIPAL] = principal
    return await handler(request)


async def issue_ticket(request: web.Request) -> web.Response:
    """`POST /api/ws-ticket`: a one-time ticket for the `/ws` upgrade (module doc)."""
    principal = signed_in(request)
    ticket = secrets.token_hex(24)
    document = orjson.dumps({"name": principal.name, "role": principal.role.value})
    try:
        await request.app[REDIS].set(TICKET_PREFIX + ticket, document, ex=TICKET_SECONDS)
    except RedisError as exc:
        raise DependencyUnavailable(f"session store: {exc}", dependency="redis") from None
    body = {"ticket": ticket, "protocol": WEBSOCKET_PROTOCOL, "expires_in": TICKET_SECONDS}
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def session(request: web.Request) -> web.Response:
    """Who the bearer token signs in as, and with which role (the page checks a token here)."""
    principal = signed_in(request)
    return web.json_response(
        {"operator_id": principal.name, "role": principal.role.value},
        headers={"Cache-Control": "no-store"},
    )
