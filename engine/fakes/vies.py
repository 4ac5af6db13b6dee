"""A fake VIES: `POST /check-vat-number` of the EU's VIES REST interface, for tests and demos.

It speaks the documented format (`engine/tax/vies.py` quotes it): a result with `valid`,
`requestDate` and a `requestIdentifier` (a consultation number when the request names a
requester, empty otherwise), `name` and `address` as `---` where the member state does not
share them, and the `trader*Match` fields `NOT_PROCESSED`; errors as HTTP 200 with
`{"actionSucceed": false, "errorWrappers": [{"error": ..., "message": ...}]}`:
`INVALID_INPUT` for a body it cannot read or a country that is no member state,
`MS_UNAVAILABLE` for a member state whose register is down, `SERVICE_UNAVAILABLE` while the
whole service is down; `MS_MAX_CONCURRENT_REQ` when a member state is asked too often.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from engine.tax.rates import EU_MEMBER_STATES
from engine.tax.vies import CHECK_PATH

#: VIES's country codes: the member states with Greece as EL, and XI (Northern Ireland).
MEMBER_STATES = frozenset({"EL" if code == "GR" else code for code in EU_MEMBER_STATES} | {"XI"})
NOT_SHARED = "---"


@dataclass
class FakeVies:
    """The register the fake answers from, and what tests switch on and off."""

    #: Registered numbers (country prefix and number, e.g. "DE136695976") and their names.
    registered: dict[str, str] = field(default_factory=dict)
    #: Member states whose register is down (answered MS_UNAVAILABLE).
    unavailable: set[str] = field(default_factory=set)
    #: The whole service down (SERVICE_UNAVAILABLE), or answering only after this delay.
    down: bool = False
    delay_seconds: float = 0.0
    #: Every request body received, in order.
    requests: list[dict[str, Any]] = field(default_factory=list)
    _sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def consultation_number(self) -> str:
        return f"WAPI{next(self._sequence):012d}"


FAKE = web.AppKey("fake_vies", FakeVies)


def _error(code: str, message: str) -> web.Response:
    body = {"actionSucceed": False, "errorWrappers": [{"error": code, "message": message}]}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def _text(document: dict[str, Any], key: str) -> str | None:
    value = document.get(key)
    return value if isinstance(value, str) and value else None


async def _check(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    try:
        document = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _error("INVALID_INPUT", "The request body is not valid JSON")
    if not isinstance(document, dict):
        return _error("INVALID_INPUT", "The request body must be an object")
    fake.requests.append(document)
    if fake.delay_seconds:
        await asyncio.sleep(fake.delay_seconds)
    country, number = _text(document, "countryCode"), _text(document, "vatNumber")
    if country is None or number is None or country not in MEMBER_STATES:
        return _error("INVALID_INPUT", "countryCode and vatNumber are required")
    if fake.down:
        return _error("SERVICE_UNAVAILABLE", "The service is unavailable")
    if country in fake.unavailable:
        return _error("MS_UNAVAILABLE", f"The member state {country} is unavailable")
    requester = _text(document, "requesterMemberStateCode"), _text(document, "requesterNumber")
    if (requester[0] is None) != (requester[1] is None):
        return _error("INVALID_REQUESTER_INFO", "Both requester fields are needed")
    name = fake.registered.get(country + number)
    result = {
        "countryCode": country,
        "vatNumber": number,
        "requestDate": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "valid": name is not None,
        "requestIdentifier": fake.consultation_number() if requester[0] else "",
        "name": name or NOT_SHARED,
        "address": NOT_SHARED,
        "traderName": "",
        "traderStreet": "",
        "traderPostalCode": "",
        "traderCity": "",
        "traderCompanyType": "",
        "traderNameMatch": "NOT_PROCESSED",
        "traderStreetMatch": "NOT_PROCESSED",
        "traderPostalCodeMatch": "NOT_PROCESSED",
        "traderCityMatch": "NOT_PROCESSED",
        "traderCompanyTypeMatch": "NOT_PROCESSED",
    }
    return web.Response(body=orjson.dumps(result), content_type="application/json")


def create_app(fake: FakeVies) -> web.Application:
    """The fake's aiohttp application; its base URL stands for `.../vies/rest-api`."""
    app = web.Application()
    app[FAKE] = fake
    app.router.add_post(CHECK_PATH, _check)
    return app
