"""uvicorn's HTTP protocols with a deadline for the request line and headers (slowloris).

uvicorn closes idle keep-alive connections but gives a client that sends its headers one byte at a
time all the time it wants, so a few hundred such sockets hold every connection slot. These
subclasses start a timer when a connection opens (and again after each response on a kept-alive
connection) and close the connection if the headers are not complete when it fires. The body has its
own deadline in the application (`HYPERDASH_WEBHOOK_BODY_TIMEOUT_SECONDS`).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hyperdash_pipeline.webhook.config import HEADER_TIMEOUT_VAR, WebhookConfig


def header_timeout() -> float:
    """Seconds a client has to send the request line and headers (validated by WebhookConfig)."""
    return float(os.environ.get(HEADER_TIMEOUT_VAR) or WebhookConfig.header_timeout_seconds)


class _HeaderDeadline:
    """Mixed into a uvicorn protocol: the connection closes unless a request's headers arrive in time."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    scope: Any
    cycle: Any
    _header_timer: asyncio.TimerHandle | None = None
    _scope_before: Any = None

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._scope_before = self.scope
        self._header_timer = self.loop.call_later(header_timeout(), self._header_deadline_passed)

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline_passed(self) -> None:
        """Close unless a request is being answered (a pipelined one whose headers came with the last)."""
        self._header_timer = None
        answering = self.cycle is not None and not self.cycle.response_complete
        if not answering and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)  # type: ignore[misc]


class DeadlineH11Protocol(_HeaderDeadline, H11Protocol):
    """h11 builds a new scope when a request's headers are complete."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.scope is not self._scope_before:
            self._disarm_header_deadline()


class DeadlineHttpToolsProtocol(_HeaderDeadline, HttpToolsProtocol):
    """httptools calls on_headers_complete (its scope is built at the first byte, too early to tell)."""

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()


PROTOCOLS: dict[str, type[asyncio.Protocol]] = {"h11": DeadlineH11Protocol, "httptools": DeadlineHttpToolsProtocol}
