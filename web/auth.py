"""Operator authentication: `Authorization: Bearer <token>` against tokens from the environment.

The config names the environment variable (`[operators] token_env`, default
`WINKEL_OPERATOR_TOKEN`). Its value is either one token, which signs in as operator id
`operator`, or comma-separated `name=token` pairs so that each person's actions are audited
under their own name (`alice=s3cret,bob=0ther`). Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from aiohttp import web

from web.state import OPERATORS

DEFAULT_OPERATOR_ID = "operator"
#: Operator ids end up in audit entries: keep them short, plain names.
_ID_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


def operators_from(raw: str) -> dict[str, str]:
    """Token -> operator id, from the environment variable's value (module doc)."""
    entries = [part.strip() for part in raw.split(",") if part.strip()]
    if len(entries) == 1 and "=" not in entries[0]:
        return {entries[0]: DEFAULT_OPERATOR_ID}
    operators: dict[str, str] = {}
    for entry in entries:
        name, separator, token = (part.strip() for part in entry.partition("="))
        if not separator or not name or not token or not set(name) <= _ID_CHARACTERS:
            raise ValueError("operator tokens must be one token or `name=token` pairs")
        operators[token] = name
    return operators


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def operator_for(token: str | None, operators: Mapping[str, str]) -> str | None:
    """The operator id of `token`; every configured token is compared, in constant time."""
    if token is None:
        return None
    found = None
    for known, operator_id in operators.items():
        if hmac.compare_digest(token.encode(), known.encode()):
            found = operator_id
    return found


def require_operator(request: web.Request) -> str:
    """The signed-in operator's id, or 401 (with the `WWW-Authenticate` challenge)."""
    operators = request.app[OPERATORS]
    operator_id = operator_for(bearer_token(request.headers.get("Authorization")), operators)
    if operator_id is None:
        raise web.HTTPUnauthorized(
            headers={"WWW-Authenticate": 'Bearer realm="winkel-operators"'},
            text='{"error": "sign in with an operator token"}',
            content_type="application/json",
        )
    return operator_id
