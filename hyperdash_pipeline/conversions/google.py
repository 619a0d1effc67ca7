"""Google Ads API click conversions: `POST <api>/<version>/customers/<id>:uploadClickConversions`.

Body `{"conversions": [ClickConversion, ...], "partialFailure": true}` (REST JSON, camelCase), at most
2,000 conversions a request. A conversion with a gclid is a click conversion; one without is an
enhanced conversion for leads, matched on `userIdentifiers` (hashed e-mail and phone). `orderId` is
the event id: Google refuses a second upload of the same order id for the same conversion action
(ORDER_ID_ALREADY_IN_USE), which the sender records as sent, so a resend after a crash is harmless.

Partial failure: the answer carries `results` (one per conversion, empty for the failed ones) and
`partialFailureError.details[].errors[]`, each with `location.fieldPathElements` naming
`conversions[index]`. Errors about the whole request (auth, unknown customer) come back as an HTTP
error and leave every event pending.

This targets the Google Ads API upload; the Data Manager API (`ingestEvents`) is not implemented.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from hyperdash_pipeline.conversions.normalize import google_datetime
from hyperdash_pipeline.conversions.store import OutboxEvent, Outcome
from hyperdash_pipeline.conversions.transport import Answer, DeliveryError, Transport

GOOGLE_BATCH_LIMIT = 2000
GOOGLE_WINDOW = timedelta(days=90)  # the longest click-through window a conversion action can have
ALREADY_RECORDED = frozenset({"ORDER_ID_ALREADY_IN_USE", "CLICK_CONVERSION_ALREADY_EXISTS"})


def _consent(value: bool | None) -> str | None:
    return None if value is None else ("GRANTED" if value else "DENIED")


def click_conversion(event: OutboxEvent, conversion_action: str) -> dict[str, Any]:
    conversion: dict[str, Any] = {
        "conversionAction": conversion_action,
        "conversionDateTime": google_datetime(event.event_time),
        "orderId": str(event.event_id),
    }
    if event.click_id:
        conversion["gclid"] = event.click_id
    identifiers = []
    if event.email_sha256:
        identifiers.append({"hashedEmail": event.email_sha256})
    if event.phone_sha256:
        identifiers.append({"hashedPhoneNumber": event.phone_sha256})
    if identifiers:
        conversion["userIdentifiers"] = identifiers
    if event.value is not None and event.currency:
        conversion["conversionValue"] = float(event.value)
        conversion["currencyCode"] = event.currency.strip().upper()
    consent = {
        key: state
        for key, state in (
            ("adUserData", _consent(event.ad_user_data_consent)),
            ("adPersonalization", _consent(event.ad_personalization_consent)),
        )
        if state
    }
    if consent:
        conversion["consent"] = consent
    return conversion


class GoogleSender:
    """Delivers events to one customer's conversion actions; an outcome per event, or DeliveryError."""

    def __init__(
        self, transport: Transport, url: str, headers: dict[str, str], conversion_actions: dict[str, str]
    ) -> None:
        self.transport, self.url, self.headers = transport, url, headers
        self.conversion_actions = conversion_actions

    def payload(self, events: Sequence[OutboxEvent]) -> dict[str, Any]:
        conversions = [click_conversion(e, self.conversion_actions[e.kind]) for e in events]
        return {"conversions": conversions, "partialFailure": True}

    def deliver(self, events: Sequence[OutboxEvent]) -> list[Outcome]:
        if not events:
            return []
        answer = self.transport.post(self.url, self.payload(events), self.headers)
        if answer.status != 200:
            raise DeliveryError(f"Google Ads uploadClickConversions answered HTTP {answer.status}: {_message(answer)}")
        errors = _errors_by_index(answer, len(events))
        results = answer.body.get("results")
        results = results if isinstance(results, list) else []
        outcomes = []
        for index, event in enumerate(events):
            error = errors.get(index)
            if error is None:
                result = results[index] if index < len(results) else None
                response = {"result": result, "jobId": answer.body.get("jobId")}
                outcomes.append(Outcome(event.event_id, "sent", None, response))
            elif _code(error) in ALREADY_RECORDED:
                outcomes.append(Outcome(event.event_id, "sent", f"already recorded: {_code(error)}", {"error": error}))
            else:
                reason = f"{_code(error)}: {error.get('message', '')}".strip()
                outcomes.append(Outcome(event.event_id, "rejected", reason[:500], {"error": error}))
        return outcomes


def _code(error: dict[str, Any]) -> str:
    code = error.get("errorCode")
    if isinstance(code, dict) and code:
        return str(next(iter(code.values())))
    return "UNKNOWN"


def _errors_by_index(answer: Answer, count: int) -> dict[int, dict[str, Any]]:
    """{conversion index: its first error} from partialFailureError; DeliveryError if unreadable."""
    failure = answer.body.get("partialFailureError")
    if not failure:
        return {}
    found: dict[int, dict[str, Any]] = {}
    details = failure.get("details") if isinstance(failure, dict) else None
    for detail in details if isinstance(details, list) else []:
        for error in detail.get("errors", []) if isinstance(detail, dict) else []:
            index = _conversion_index(error)
            if index is not None and 0 <= index < count:
                found.setdefault(index, error)
    if not found:
        raise DeliveryError(
            "Google Ads partialFailureError names no conversion: "
            f"{str(failure.get('message') if isinstance(failure, dict) else failure)[:300]}"
        )
    return found


def _conversion_index(error: Any) -> int | None:
    if not isinstance(error, dict):
        return None
    location = error.get("location")
    elements = location.get("fieldPathElements") if isinstance(location, dict) else None
    for element in elements if isinstance(elements, list) else []:
        if isinstance(element, dict) and element.get("fieldName") == "conversions":
            index = element.get("index", 0)
            return index if isinstance(index, int) else None
    return None


def _message(answer: Answer) -> str:
    error = answer.body.get("error")
    if isinstance(error, dict):
        return " ".join(str(error[k]) for k in ("code", "status", "message") if error.get(k))[:500]
    return f"HTTP {answer.status}"


def access_token(transport: Transport, token_url: str, refresh_token: str, client_id: str, client_secret: str) -> str:
    """An OAuth access token for `refresh_token` (Google's token endpoint; form-encoded)."""
    import requests

    try:
        response = transport.session.post(
            token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": client_id,
                "client_secret": client_secret,
            },
            timeout=transport.settings.timeout_seconds,
        )
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise DeliveryError(f"Google OAuth token exchange failed: {type(exc).__name__}") from None
    if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise DeliveryError(f"Google OAuth token exchange answered HTTP {response.status_code} without an access_token")
    return str(body["access_token"])
