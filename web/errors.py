"""JSON error answers, and the mapping of the one error family (models.exceptions) onto HTTP.

Every refusal of the web process is `{"error": <kind>, "reason": <what is wrong>}` with a
status that says whose move it is: 4xx the caller's (the same request gets the same answer),
503 with `Retry-After` ours (try again later).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import orjson
from aiohttp import web

from engine.domain.exceptions import DependencyUnavailable
from engine.shell import metrics as process_metrics
from engine.shell.producer import RETRY_AFTER_SECONDS
from models.exceptions import InputError, TransientError

log = logging.getLogger(__name__)


def refusal(
    status: type[web.HTTPException],
    error: str,
    reason: str,
    headers: Mapping[str, str] | None = None,
    **details: str,
) -> web.HTTPException:
    """An HTTP exception whose body is `{"error": error, "reason": reason, **details}`."""
    return status(
        text=orjson.dumps({"error": error, "reason": reason, **details}).decode(),
        content_type="application/json",
        headers=headers,
    )


def bad_request(reason: str) -> web.HTTPException:
    return refusal(web.HTTPBadRequest, "bad_request", reason)


def unavailable(reason: str, dependency: str = "") -> web.HTTPException:
    """503 with `Retry-After`, naming the missing dependency; counted for /metrics."""
    process_metrics.UNAVAILABLE.labels(dependency or "unknown").inc()
    return refusal(
        web.HTTPServiceUnavailable,
        "unavailable",
        reason,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        dependency=dependency,
    )


@web.middleware
async def error_family(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """`InputError` -> 400 with its reason; `TransientError` -> 503 with `Retry-After`.

    Anything else is left alone: a 500 is a bug to be found (the fuzz suite looks for them),
    not something to paper over here.
    """
    try:
        return await handler(request)
    except InputError as exc:
        raise bad_request(str(exc)) from None
    except DependencyUnavailable:
        raise  # web.health's middleware answers it (503, Retry-After, metrics, one log line)
    except TransientError as exc:
        log.warning("%s %s: %s unavailable: %s", request.method, request.path, exc.dependency, exc)
        raise unavailable(str(exc), exc.dependency) from None
