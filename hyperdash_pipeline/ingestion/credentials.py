"""Where an integration's token comes from: its own environment variable, or the provider's default."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Credentials:
    token: str | None
    missing_reason: str | None = None  # set when token is None: what to configure

    def __repr__(self) -> str:  # a token must never reach a log through repr()
        return f"Credentials(token={'***' if self.token else None}, missing_reason={self.missing_reason!r})"


def token_from(env_var: str | None, default_token: str | None, default_var: str) -> Credentials:
    """The token named by `env_var` (read at run time), else the resource's default token."""
    if env_var:
        token = os.environ.get(env_var) or None
        return Credentials(token, None if token else f"environment variable {env_var} is not set")
    if default_token:
        return Credentials(default_token)
    return Credentials(None, f"environment variable {default_var} is not set")
