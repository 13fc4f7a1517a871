"""What one answer of the Books API, or of the token endpoint, means: pure rules."""

from __future__ import annotations

import json

import pytest

from books_sync.errors import (
    OAuthClientRejected,
    ZohoApiError,
    ZohoAuthError,
    ZohoNotFound,
    ZohoProtocolError,
    ZohoRateLimited,
)
from books_sync.zoho.auth import AccessToken, parse_token_answer
from books_sync.zoho.responses import (
    DailyLimitReached,
    Failure,
    Quota,
    Success,
    Unauthorized,
    classify,
    quota_from_headers,
    seconds_until_reset,
)
from books_sync.zoho.retry import Retrying, TryAgain, backoff_seconds


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


def test_success_is_code_zero() -> None:
    verdict = classify("contacts.list", 200, body({"code": 0, "contacts": []}))
    assert verdict == Success({"code": 0, "contacts": []})


@pytest.mark.parametrize(
    ("status", "payload", "expected"),
    [
        (429, {"code": 44, "message": "per minute"}, TryAgain("HTTP 429 (code 44)", rate_limited=True)),
        (429, {"code": 1070, "message": "concurrency"}, TryAgain("HTTP 429 (code 1070)", rate_limited=True)),
        (500, {"code": 500}, TryAgain("HTTP 500", unavailable=True)),  # Zoho failing: the breaker counts it
        (503, None, TryAgain("HTTP 503", unavailable=True)),
        (200, None, TryAgain("malformed JSON")),
    ],
)
def test_transient_answers_are_retried(status: int, payload: object, expected: TryAgain) -> None:
    raw = b"<html>gateway</html>" if payload is None else body(payload)
    assert classify("contacts.list", status, raw) == expected


def test_daily_limit_and_401_are_their_own_verdicts() -> None:
    assert classify("contacts.get", 429, body({"code": 45, "message": "daily"})) == DailyLimitReached()
    assert classify("contacts.get", 401, body({"code": 57})) == Unauthorized()


@pytest.mark.parametrize(
    ("status", "raw", "error", "message"),
    [
        (404, body({"code": 1002, "message": "gone"}), ZohoNotFound, "contacts.get: not found (code 1002)"),
        (200, body({"code": 1002, "message": "gone"}), ZohoNotFound, "contacts.get: not found (code 1002)"),
        (400, body({"code": 6041, "message": "not yours"}), ZohoApiError, "contacts.get: HTTP 400, Zoho code 6041"),
        (400, b"oops", ZohoApiError, "contacts.get: HTTP 400, Zoho code None: answer is not JSON"),
        (200, body([1, 2]), ZohoProtocolError, "contacts.get: expected a JSON object, got list"),
        (200, body({"code": 1, "message": "odd"}), ZohoProtocolError, "contacts.get: HTTP 200 with code 1: odd"),
    ],
)
def test_final_answers_carry_a_typed_error(status: int, raw: bytes, error: type[Exception], message: str) -> None:
    verdict = classify("contacts.get", status, raw)
    assert isinstance(verdict, Failure)
    assert isinstance(verdict.error, error)
    assert str(verdict.error).startswith(message)


def test_token_answers() -> None:
    answer = parse_token_answer(
        200, body({"access_token": "1000.a", "expires_in": 3600, "api_domain": "https://www.zohoapis.eu"}), "eu"
    )
    assert isinstance(answer, AccessToken)
    assert (answer.token, answer.api_domain, answer.expires_at.tzinfo is not None) == (
        "1000.a", "https://www.zohoapis.eu", True)  # fmt: skip
    elsewhere = parse_token_answer(
        200, body({"access_token": "1000.a", "expires_in": 3600, "api_domain": "https://x.eu"})
    )
    assert isinstance(elsewhere, AccessToken) and elsewhere.api_domain is None  # not Zoho's: never kept
    assert parse_token_answer(502, b"") == TryAgain("HTTP 502")
    assert parse_token_answer(200, b"{trunc") == TryAgain("malformed JSON")
    with pytest.raises(ZohoAuthError, match=r"invalid_code$"):
        parse_token_answer(200, body({"error": "invalid_code"}))
    with pytest.raises(ZohoAuthError, match=r"invalid_grant$"):
        parse_token_answer(200, body({"error": "invalid_grant"}))
    with pytest.raises(OAuthClientRejected, match=r"^ZOHO_CLIENT_SECRET: .*\(invalid_client\) for data center 'eu'"):
        parse_token_answer(200, body({"error": "invalid_client"}), "eu")
    with pytest.raises(OAuthClientRejected, match=r"\(something_new\)"):  # undocumented: ours to look at
        parse_token_answer(200, body({"error": "something_new"}))
    with pytest.raises(ZohoRateLimited, match="too many token refreshes"):
        parse_token_answer(400, body({"error": "Access Denied", "error_description": "too many requests"}))
    with pytest.raises(ZohoProtocolError, match="lacks access_token"):
        parse_token_answer(200, body({"expires_in": 3600}))


def test_retrying_waits_only_between_attempts_and_counts_retries() -> None:
    waits: list[float] = []
    answers: list[str | TryAgain] = [TryAgain("a"), TryAgain("b"), "done"]
    retrying = Retrying(3, 1.0, 60.0, sleep=waits.append, rng=lambda: 0.0)
    assert retrying.run(lambda: answers.pop(0)) == "done"
    assert (retrying.retries, waits) == (2, [0.5, 1.0])
    stubborn = Retrying(2, 1.0, 60.0, sleep=waits.append, rng=lambda: 0.0)
    assert stubborn.run(lambda: TryAgain("never")) == TryAgain("never")
    assert stubborn.retries == 2  # three attempts, two waits


def test_backoff_grows_and_is_capped() -> None:
    assert backoff_seconds(0, 1.0, 60.0, lambda: 0.0) == 0.5
    assert backoff_seconds(0, 1.0, 60.0, lambda: 1.0) == 1.0
    assert backoff_seconds(3, 1.0, 60.0, lambda: 0.0) == 4.0
    assert backoff_seconds(10, 1.0, 60.0, lambda: 1.0) == 60.0


def test_a_429_is_the_day_spent_when_the_headers_say_nothing_remains_whatever_the_code() -> None:
    per_minute = body({"code": 44, "message": "per minute"})
    assert classify(
        "contacts.list", 429, per_minute, {"X-Rate-Limit-Limit": "1000", "X-Rate-Limit-Remaining": "0"}
    ) == (DailyLimitReached())
    daily = body({"code": 45, "message": "daily"})
    assert classify("contacts.list", 429, daily, {"X-Rate-Limit-Limit": "1000", "X-Rate-Limit-Remaining": "7"}) == (
        TryAgain("HTTP 429 (code 45)", rate_limited=True)
    )
    assert quota_from_headers({"x-rate-limit-limit": "2000", "x-rate-limit-remaining": "17"}) == Quota(2000, 17)
    assert quota_from_headers({"x-rate-limit-limit": "lots"}) is None


@pytest.mark.parametrize(
    ("limit", "remaining", "expected"),
    [
        ("99999999999", "5", None),  # above 2^31-1: would not fit the integer column
        ("1000", "3000000000", Quota(1000, 1000)),  # above 2^31-1 and above the limit: clamped to it
        ("2000000000", "5", None),  # absurd: no plan allows it
        ("-5", "1", None),
        ("1000", "-1", None),
        ("0", "0", None),
        ("\u0661\u0660\u0660\u0660", "5", None),  # int() reads Arabic-Indic digits; a header of them is not a count
        ("1_000", "5", None),  # nor underscores
        ("1000.0", "5", None),
        ("1000", "5000", Quota(1000, 1000)),  # more left than allowed: clamped
        (" 1000 ", "7", Quota(1000, 7)),  # surrounding blanks are the header's, not the number's
    ],
)
def test_quota_headers_that_lie_are_dropped_or_clamped(limit: str, remaining: str, expected: Quota | None) -> None:
    assert quota_from_headers({"X-Rate-Limit-Limit": limit, "X-Rate-Limit-Remaining": remaining}) == expected


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("3600", 3600.0),  # seconds to wait
        ("1795640000", 1795640000 - 1795636400.0),  # a Unix time in seconds
        ("1795640000000", 1795640000 - 1795636400.0),  # ... in milliseconds
        ("-5", None),
        ("999999", None),  # more than a day: misread, not trusted
        ("soon", None),
        ("nan", None),
        ("1e999", None),
        ("inf", None),
        ("1000000000", None),  # a Unix time in the past (2001)
        ("4102444800", None),  # years ahead (2100)
        ("\u0663\u0666\u0660\u0660", None),
        (None, None),
    ],
)
def test_the_quota_reset_is_read_as_seconds_from_now(raw: str | None, seconds: float | None) -> None:
    assert seconds_until_reset(raw, now=1795636400.0) == seconds
    headers = {"X-Rate-Limit-Limit": "1000", "X-Rate-Limit-Remaining": "0"} | (
        {"X-Rate-Limit-Reset": raw} if raw else {}
    )
    quota = quota_from_headers(headers, now=1795636400.0)
    assert quota is not None and quota.resets_in == seconds


def test_an_error_without_zohos_message_keeps_an_excerpt_of_the_answer() -> None:
    """Issue 26: `HTTP 422, Zoho code None:` lost the reason; a proxy's page or another API's error is quoted."""
    verdict = classify("contacts.list", 422, b'{"error": "Unprocessable: the gateway refused the request"}')
    assert isinstance(verdict, Failure)
    assert "the gateway refused the request" in str(verdict.error) and "code None" in str(verdict.error)
    page = b"<html>\n  <body>  Bad   request from the proxy " + b"x" * 500 + b"</body></html>"
    verdict = classify("contacts.list", 400, page)
    assert isinstance(verdict, Failure)
    assert "answer is not JSON: '<html> <body> Bad request from the proxy" in str(verdict.error)
    assert len(str(verdict.error)) < 300  # an excerpt, on one line
    empty = classify("contacts.list", 400, b"")
    assert isinstance(empty, Failure) and "(empty)" in str(empty.error)
