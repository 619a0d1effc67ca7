"""How often the two pollers that carry a lead from the CRM to the analytics tables tick.

Both are read from the environment when the Definitions load (the code server, so the daemon sees
them after a restart of `hyperdash dev`). Lower is fresher and costs more: each CRM poll is a few
index probes on the CRM; each automation tick evaluates every asset's condition in the daemon
(docs/operations.md#freshness-knobs).
"""

from __future__ import annotations

import os

CRM_POLL_VAR = "HYPERDASH_CRM_POLL_SECONDS"
AUTOMATION_VAR = "HYPERDASH_AUTOMATION_SECONDS"
DEFAULT_CRM_POLL_SECONDS = 10
DEFAULT_AUTOMATION_SECONDS = 10
MINIMUM_SECONDS = 1


class IntervalSettingError(ValueError):
    """An interval variable is not a whole number of seconds >= 1; the message names it and the fix."""


def interval_seconds(variable: str, default: int, environ: dict[str, str] | None = None) -> int:
    """The whole number of seconds in `variable`, or `default` when it is unset or empty."""
    raw = (os.environ if environ is None else environ).get(variable, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < MINIMUM_SECONDS:
        raise IntervalSettingError(
            f"{variable}={raw!r} is not a whole number of seconds >= {MINIMUM_SECONDS}; "
            f"set it to e.g. {default} or unset it for the default ({default} s)"
        )
    return value


def crm_poll_seconds() -> int:
    """Minimum interval of `crm_changes_sensor` (a CRM write waits at most this long to be noticed)."""
    return interval_seconds(CRM_POLL_VAR, DEFAULT_CRM_POLL_SECONDS)


def automation_seconds() -> int:
    """Minimum interval of the automation condition sensor (a finished upstream run waits at most this long)."""
    return interval_seconds(AUTOMATION_VAR, DEFAULT_AUTOMATION_SECONDS)
