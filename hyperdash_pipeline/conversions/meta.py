"""Meta Conversions API: `POST <graph>/<version>/<dataset id>/events` with `{"data": [event, ...]}`.

At most 1,000 events a request; events older than 7 days are refused (we mark them expired and never
send them). Meta answers `{"events_received": n, "fbtrace_id": ...}`, or rejects the whole request
with HTTP 400 and `error.code` 100 ("Invalid parameter") when any one event is bad: the sender then
splits the batch in halves until the bad events are alone, records Meta's message on each, and sends
the rest. Meta deduplicates events with the same `event_name` and `event_id` (documented for events
received within 48 hours of each other), which is what makes a resend after a crash harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from hyperdash_pipeline.conversions.normalize import meta_fbc
from hyperdash_pipeline.conversions.store import OutboxEvent, Outcome
from hyperdash_pipeline.conversions.transport import Answer, DeliveryError, Transport

META_BATCH_LIMIT = 1000
META_WINDOW = timedelta(days=7)
DEFAULT_EVENT_NAMES = {"lead": "Lead", "qualified": "QualifiedLead", "purchase": "Purchase"}
_BAD_EVENT_CODES = {100}  # "Invalid parameter": something in the data, not the token or the dataset


def meta_event(event: OutboxEvent, event_names: dict[str, str], crm_name: str) -> dict[str, Any]:
    """One Conversions API server event for a CRM stage (action_source system_generated)."""
    user_data: dict[str, Any] = {}
    if event.email_sha256:
        user_data["em"] = [event.email_sha256]
    if event.phone_sha256:
        user_data["ph"] = [event.phone_sha256]
    if event.click_id and event.click_time:
        user_data["fbc"] = meta_fbc(event.click_id, event.click_time)
    custom_data: dict[str, Any] = {"event_source": "crm", "lead_event_source": crm_name}
    if event.value is not None and event.currency:
        custom_data["value"] = float(event.value)
        custom_data["currency"] = event.currency.strip().upper()
    return {
        "event_name": event_names[event.kind],
        "event_time": int(event.event_time.timestamp()),
        "event_id": str(event.event_id),
        "action_source": "system_generated",
        "user_data": user_data,
        "custom_data": custom_data,
    }


class MetaSender:
    """Delivers events to one dataset; returns an outcome per event or raises DeliveryError."""

    def __init__(self, transport: Transport, url: str, token: str, event_names: dict[str, str], crm_name: str) -> None:
        self.transport, self.url, self.token = transport, url, token
        self.event_names, self.crm_name = event_names, crm_name

    def payload(self, events: Sequence[OutboxEvent]) -> dict[str, Any]:
        """The request body without the token (what the dry run prints)."""
        return {"data": [meta_event(e, self.event_names, self.crm_name) for e in events]}

    def deliver(self, events: Sequence[OutboxEvent]) -> list[Outcome]:
        if not events:
            return []
        answer = self.transport.post(self.url, self.payload(events) | {"access_token": self.token})
        if answer.status == 200:
            return _accepted(events, answer)
        code = _error(answer).get("code")
        if answer.status == 400 and code in _BAD_EVENT_CODES:
            if len(events) == 1:
                return [Outcome(events[0].event_id, "rejected", _message(answer), _error(answer))]
            middle = len(events) // 2
            return self.deliver(events[:middle]) + self.deliver(events[middle:])
        raise DeliveryError(f"Meta Conversions API answered HTTP {answer.status}: {_message(answer)}")


def _accepted(events: Sequence[OutboxEvent], answer: Answer) -> list[Outcome]:
    received = answer.body.get("events_received")
    if received != len(events):
        raise DeliveryError(
            f"Meta Conversions API acknowledged {received!r} of {len(events)} events "
            "(left pending; a resend carries the same event ids, which Meta deduplicates)"
        )
    response = {"events_received": received, "fbtrace_id": answer.body.get("fbtrace_id")}
    return [Outcome(e.event_id, "sent", None, response) for e in events]


def _error(answer: Answer) -> dict[str, Any]:
    error = answer.body.get("error")
    return error if isinstance(error, dict) else {}


def _message(answer: Answer) -> str:
    error = _error(answer)
    parts = [str(error[k]) for k in ("code", "error_subcode", "message", "error_user_msg") if error.get(k) is not None]
    return " ".join(parts)[:500] or f"HTTP {answer.status}"
