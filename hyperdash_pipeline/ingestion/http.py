"""JSON over HTTP with the retries ad platform APIs need, and errors that never carry a token.

Retried (exponential backoff, honouring Retry-After): HTTP 429, 5xx, connection errors and timeouts,
bodies that are not JSON (a truncated transfer), and the errors a platform flags as rate limits or
transient (see `ErrorClassifier`). Everything else raises at once: retrying cannot fix a bad token.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:  # imported where a client is made: the Definitions load this module in every run worker
    import requests

log = logging.getLogger(__name__)

_SECRET_PARAM = re.compile(r"(access_token|appsecret_proof|client_secret|refresh_token|key)=[^&\s\"']+", re.I)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+")


def scrub(text: str) -> str:
    """`text` with every token-looking query parameter or bearer token replaced by ***."""
    return _BEARER.sub(r"\1***", _SECRET_PARAM.sub(r"\1=***", text))


def safe_url(url: str) -> str:
    """The URL without its query string (where Graph API paging links carry the access token)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


class AdPlatformError(RuntimeError):
    """An ad platform API call failed for good; the message names the call, never a token."""


class MalformedResponseError(AdPlatformError):
    """The platform answered 200 with a body that is not the documented shape."""


class RetryableError(AdPlatformError):
    """A failure worth retrying (rate limit, transient server error)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# (status, parsed JSON body or None) -> True when the error is a rate limit or transient.
ErrorClassifier = Callable[[int, Any], bool]


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int = 5
    backoff_seconds: float = 2.0
    max_backoff_seconds: float = 120.0
    timeout_seconds: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff_seconds)
        return min(self.backoff_seconds * 2 ** (attempt - 1), self.max_backoff_seconds)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class JsonHttpClient:
    """One `requests.Session`, a retry loop and an error classifier for one platform."""

    def __init__(self, platform: str, settings: RetrySettings, is_retryable: ErrorClassifier) -> None:
        self.platform = platform
        self.settings = settings
        self.is_retryable = is_retryable
        import requests

        self.session = requests.Session()
        self.attempts_made = 0  # every HTTP call, including retries (reported in metadata)
        self.retries = 0

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> Any:
        """The parsed JSON body of a successful call, after retries."""
        last: RetryableError | None = None
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                return self._once(method, url, params=params, json_body=json_body, headers=headers, data=data)
            except RetryableError as exc:
                last = exc
                if attempt == self.settings.max_attempts:
                    break
                delay = self.settings.delay(attempt, exc.retry_after)
                self.retries += 1
                log.warning(
                    "%s: %s; retry %d/%d in %.1fs",
                    self.platform,
                    exc,
                    attempt,
                    self.settings.max_attempts - 1,
                    delay,
                )
                time.sleep(delay)
        raise AdPlatformError(f"{last} (gave up after {self.settings.max_attempts} attempts)")

    def _once(self, method: str, url: str, **kwargs: Any) -> Any:
        import requests

        where = f"{self.platform} {method} {safe_url(url)}"
        self.attempts_made += 1
        try:
            response = self.session.request(
                method,
                url,
                params=kwargs["params"],
                json=kwargs["json_body"],
                headers=kwargs["headers"],
                data=kwargs["data"],
                timeout=self.settings.timeout_seconds,
            )
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise RetryableError(f"{where}: {type(exc).__name__}") from None
        except requests.RequestException as exc:  # its message may quote the URL, token included
            raise AdPlatformError(f"{where}: {type(exc).__name__}") from None
        body = _json_or_none(response)
        if response.status_code >= 400:
            detail = scrub(_error_detail(body, response))
            message = f"{where} answered HTTP {response.status_code}: {detail}"
            if (
                response.status_code == 429
                or response.status_code >= 500
                or self.is_retryable(response.status_code, body)
            ):
                raise RetryableError(message, _retry_after(response))
            raise AdPlatformError(message)
        if body is None:
            raise RetryableError(f"{where} answered HTTP {response.status_code} with a body that is not JSON")
        return body


def _error_detail(body: Any, response: requests.Response) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        parts = [str(error.get(k)) for k in ("code", "status", "error_subcode", "message") if error.get(k)]
        return " ".join(parts)[:500]
    return response.text[:200]
