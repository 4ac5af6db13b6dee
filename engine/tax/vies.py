"""VIES, the EU's register of VAT numbers, over its REST interface: the wire format, pure.

`POST <base>/check-vat-number` with `{"countryCode", "vatNumber"}` and, to get a consultation
number, the requester's own number (`requesterMemberStateCode`, `requesterNumber`). VIES
answers HTTP 200 with either the result:

    {"countryCode": "DE", "vatNumber": "136695976", "requestDate": "2026-11-03T09:12:45.123Z",
     "valid": true, "requestIdentifier": "WAPIAAAAaEDkvhHx", "name": "---", "address": "---",
     "traderName": "", ..., "traderNameMatch": "NOT_PROCESSED", ...}

(`requestIdentifier` is empty without a requester), or an error, also with HTTP 200 when a
member state's register is down or busy:

    {"actionSucceed": false, "errorWrappers": [{"error": "MS_UNAVAILABLE", "message": "..."}]}

Error codes: `INVALID_INPUT`, `INVALID_REQUESTER_INFO`, `SERVICE_UNAVAILABLE`,
`MS_UNAVAILABLE`, `TIMEOUT`, `VAT_BLOCKED`, `IP_BLOCKED`, `GLOBAL_MAX_CONCURRENT_REQ`,
`GLOBAL_MAX_CONCURRENT_REQ_TIME`, `MS_MAX_CONCURRENT_REQ`, `MS_MAX_CONCURRENT_REQ_TIME`; other
HTTP statuses carry the same error body. Only a result says anything about the number: every
error means "no answer", never "not registered". The client is `engine/vies.py`, the fake
server `engine/fakes/vies.py`; docs/vat.md says how the answer is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import orjson
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError

from engine.tax.exceptions import TaxError

CHECK_PATH = "/check-vat-number"
DEFAULT_BASE_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api"
CACHE_PREFIX = "winkel:vies"
#: A cached answer is used on its day only; the key outlives the day a little so a check just
#: before midnight UTC still finds it until the day ends.
CACHE_TTL_SECONDS = 36 * 3600


@dataclass(frozen=True, slots=True)
class ViesAnswer:
    """What VIES said about one number, or why it said nothing.

    `valid`: True registered, False not registered, None no answer (`error` says why: a VIES
    error code, `HTTP <status>`, `timeout`, or a transport error).
    """

    vat_id: str  # compact, with its country prefix (EL for Greece, as VIES writes it)
    valid: bool | None
    consultation_id: str | None = None  # VIES `requestIdentifier`: the evidence to keep
    checked_at: datetime | None = None  # VIES `requestDate`, UTC
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.valid is not None


def split(vat_id: str) -> tuple[str, str]:
    """Country prefix and number as VIES wants them: `"de 136 695 976"` -> `("DE", "136695976")`."""
    try:
        compact = eu_vat.compact(vat_id)
    except ValidationError:
        raise TaxError(f"not a VAT number with a country prefix: {vat_id!r}") from None
    prefix, number = compact[:2], compact[2:]
    if len(prefix) != 2 or not prefix.isalpha() or not number:
        raise TaxError(f"not a VAT number with a country prefix: {vat_id!r}")
    return ("EL" if prefix == "GR" else prefix), number


def request_body(vat_id: str, requester_vat_id: str | None = None) -> bytes:
    """The JSON body of `POST /check-vat-number`; the requester's number makes VIES issue a
    consultation number (left out when it is not a usable EU number)."""
    country, number = split(vat_id)
    document = {"countryCode": country, "vatNumber": number}
    if requester_vat_id and eu_vat.is_valid(requester_vat_id):
        requester_country, requester_number = split(requester_vat_id)
        document["requesterMemberStateCode"] = requester_country
        document["requesterNumber"] = requester_number
    return orjson.dumps(document)


def _error_code(document: object) -> str | None:
    if not isinstance(document, dict):
        return None
    wrappers = document.get("errorWrappers")
    if isinstance(wrappers, list) and wrappers and isinstance(wrappers[0], dict):
        code = wrappers[0].get("error")
        if isinstance(code, str) and code:
            return code
    if document.get("actionSucceed") is False:
        return "actionSucceed false"
    return None


def _request_date(raw: object) -> datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_response(status: int, body: bytes, vat_id: str) -> ViesAnswer:
    """Read VIES's answer to a check of `vat_id`; never raises on what VIES sends."""
    compact = "".join(split(vat_id))
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    code = _error_code(document)
    if status != 200:
        return ViesAnswer(compact, None, error=code or f"HTTP {status}")
    if code is not None:
        return ViesAnswer(compact, None, error=code)
    if not isinstance(document, dict) or not isinstance(document.get("valid"), bool):
        return ViesAnswer(compact, None, error="unreadable answer")
    identifier = document.get("requestIdentifier")
    return ViesAnswer(
        compact,
        document["valid"],
        consultation_id=identifier if isinstance(identifier, str) and identifier else None,
        checked_at=_request_date(document.get("requestDate")),
    )


def cache_key(vat_id: str, day: date) -> str:
    """The Redis key of one number's answer on one (UTC) day."""
    return f"{CACHE_PREFIX}:{''.join(split(vat_id))}:{day.isoformat()}"


def encode_answer(answer: ViesAnswer) -> bytes:
    return orjson.dumps(answer, option=orjson.OPT_UTC_Z)


def decode_answer(data: bytes) -> ViesAnswer | None:
    """A cached answer; None for anything unreadable (then VIES is asked again)."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("vat_id"), str):
        return None
    valid = document.get("valid")
    consultation = document.get("consultation_id")
    error = document.get("error")
    return ViesAnswer(
        document["vat_id"],
        valid if isinstance(valid, bool) else None,
        consultation_id=consultation if isinstance(consultation, str) else None,
        checked_at=_request_date(document.get("checked_at")),
        error=error if isinstance(error, str) else None,
    )
