"""POSTing a JSON batch to a platform: 429, 5xx, timeouts and bodies that are not JSON are retried with
exponential backoff (honouring Retry-After); any other answer goes back to the caller, who knows which
4xx means "these events are bad" and which means "this integration is misconfigured".
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hyperdash_pipeline.ingestion.http import RetrySettings, safe_url, scrub

if TYPE_CHECKING:  # imported where a transport is made: the Definitions load this module in every run worker
    import requests

log = logging.getLogger(__name__)


class DeliveryError(RuntimeError):
    """The batch could not be delivered (retries exhausted, or the integration is misconfigured).

    Its events stay pending; the message names the platform and never a token."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # parsed JSON (a dict for every documented answer)


@dataclass
class Transport:
    platform: str
    settings: RetrySettings
    session: requests.Session

    http_calls: int = 0
    retries: int = 0

    @classmethod
    def create(cls, platform: str, settings: RetrySettings) -> Transport:
        import requests

        return cls(platform, settings, requests.Session())

    def post(self, url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
        """The platform's answer to `body`, after retrying what retrying can fix."""
        last = ""
        for attempt in range(1, self.settings.max_attempts + 1):
            answer, retry_after, last = self._once(url, body, headers)
            if answer is not None:
                return answer
            if attempt < self.settings.max_attempts:
                delay = self.settings.delay(attempt, retry_after)
                self.retries += 1
                log.warning("%s: %s; retry %d in %.1fs", self.platform, last, attempt, delay)
                time.sleep(delay)
        raise DeliveryError(f"{last} (gave up after {self.settings.max_attempts} attempts)")

    def _once(
        self, url: str, body: dict[str, Any], headers: dict[str, str] | None
    ) -> tuple[Answer | None, float | None, str]:
        import requests

        where = f"{self.platform} POST {safe_url(url)}"
        self.http_calls += 1
        try:
            response = self.session.post(url, json=body, headers=headers, timeout=self.settings.timeout_seconds)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            return None, None, f"{where}: {type(exc).__name__}"
        except requests.RequestException as exc:
            raise DeliveryError(f"{where}: {type(exc).__name__}") from None
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        if response.status_code == 429 or response.status_code >= 500:
            detail = scrub(response.text[:300])
            return None, _retry_after(response), f"{where} answered HTTP {response.status_code}: {detail}"
        if not isinstance(parsed, dict):
            if response.status_code >= 400:  # e.g. a proxy's HTML 403: retrying cannot fix it
                raise DeliveryError(f"{where} answered HTTP {response.status_code}: {scrub(response.text[:200])}")
            return None, None, f"{where} answered HTTP {response.status_code} with a body that is not a JSON object"
        return Answer(response.status_code, parsed), None, ""


def _retry_after(response: requests.Response) -> float | None:
    try:
        value = response.headers.get("Retry-After")
        return float(value) if value is not None else None
    except ValueError:
        return None
