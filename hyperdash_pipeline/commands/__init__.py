"""The operator's sub-commands: `hyperdash dev`, `hyperdash status`, `hyperdash report`."""

from __future__ import annotations

import argparse

from hyperdash_pipeline.commands.dev import register_dev
from hyperdash_pipeline.commands.status import register_status
from hyperdash_pipeline.report.cli import register_report


def register(sub: argparse._SubParsersAction) -> None:
    register_dev(sub)
    register_status(sub)
    register_report(sub)
