"""Operator sub-commands: `hyperdash dev`, `hyperdash status`, `hyperdash report`."""

from __future__ import annotations

import argparse

from hyperdash_pipeline.report.cli import register_report


def register(sub: argparse._SubParsersAction) -> None:
    register_report(sub)
