"""VIES's REST wire format, pure: the request body, every kind of answer, the cache record."""

from __future__ import annotations

from datetime import UTC, date, datetime

import orjson
import pytest

from engine.tax import TaxError
from engine.tax.vies import (
    ViesAnswer,
    cache_key,
    decode_answer,
    encode_answer,
    parse_response,
    request_body,
    split,
)

RESULT = {
    "countryCode": "DE",
    "vatNumber": "136695976",
    "requestDate": "2026-11-03T09:12:45.123Z",
    "valid": True,
    "requestIdentifier": "WAPIAAAAaEDkvhHx",
    "name": "---",
    "address": "---",
    "traderNameMatch": "NOT_PROCESSED",
}


def test_the_request_names_country_and_number_and_the_requester_for_a_consultation_id() -> None:
    assert orjson.loads(request_body("de 136 695 976")) == {
        "countryCode": "DE",
        "vatNumber": "136695976",
    }
    assert orjson.loads(request_body("DE136695976", "NL004495445B01")) == {
        "countryCode": "DE",
        "vatNumber": "136695976",
        "requesterMemberStateCode": "NL",
        "requesterNumber": "004495445B01",
    }
    # a requester number that is no valid EU number is left out rather than refused by VIES
    assert "requesterNumber" not in orjson.loads(request_body("DE136695976", "NL123"))
    assert split("GR094259216") == ("EL", "094259216")  # VIES writes Greece as EL
    with pytest.raises(TaxError):
        split("123")


def test_a_result_is_an_answer_with_its_consultation_number_and_date() -> None:
    answer = parse_response(200, orjson.dumps(RESULT), "DE 136 695 976")
    assert answer == ViesAnswer(
        "DE136695976",
        True,
        consultation_id="WAPIAAAAaEDkvhHx",
        checked_at=datetime(2026, 11, 3, 9, 12, 45, 123000, tzinfo=UTC),
    )
    refused = parse_response(200, orjson.dumps(dict(RESULT, valid=False)), "DE136695976")
    assert (refused.valid, refused.answered) == (False, True)
    # without a requester VIES sends an empty identifier: no consultation number
    anonymous = parse_response(200, orjson.dumps(dict(RESULT, requestIdentifier="")), "DE1")
    assert anonymous.consultation_id is None


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            200,
            b'{"actionSucceed":false,"errorWrappers":[{"error":"MS_UNAVAILABLE","message":"x"}]}',
            "MS_UNAVAILABLE",
        ),
        # an error body that also says valid: false is still no answer
        (
            200,
            b'{"actionSucceed":false,"valid":false,"errorWrappers":[{"error":"TIMEOUT"}]}',
            "TIMEOUT",
        ),
        (
            200,
            b'{"valid":true,"errorWrappers":[{"error":"MS_MAX_CONCURRENT_REQ"}]}',
            "MS_MAX_CONCURRENT_REQ",
        ),
        (500, b'{"actionSucceed":false,"errorWrappers":[{"error":"VOW-ERR-1"}]}', "VOW-ERR-1"),
        (503, b"<html>maintenance</html>", "HTTP 503"),
        (200, b"<html>gateway</html>", "unreadable answer"),
        (200, b'{"countryCode":"DE"}', "unreadable answer"),
    ],
)
def test_an_error_is_no_answer_never_not_registered(status: int, body: bytes, error: str) -> None:
    answer = parse_response(status, body, "DE136695976")
    assert (answer.valid, answer.answered, answer.error) == (None, False, error)


def test_answers_are_cached_per_number_per_day_and_read_back() -> None:
    assert cache_key("de 136695976", date(2026, 11, 3)) == "winkel:vies:DE136695976:2026-11-03"
    answer = parse_response(200, orjson.dumps(RESULT), "DE136695976")
    assert decode_answer(encode_answer(answer)) == answer
    assert decode_answer(b"not json") is None
    assert decode_answer(b'{"valid": true}') is None
