"""Real public data sets, kept outside the repository: tests find them through HYPERDASH_PUBLIC_DATA.

Each data set is a directory with a SOURCE.md (origin, licence). Tests that read one skip cleanly, saying
why, when the variable is unset or the data set is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PUBLIC_DATA_VAR = "HYPERDASH_PUBLIC_DATA"
_ROOT = os.environ.get(PUBLIC_DATA_VAR, "")


def public_data(relative: str) -> Path:
    """Where a data set file or directory is (only meaningful when `needs_public_data` did not skip)."""
    return Path(_ROOT or os.devnull, relative)


def needs_public_data(path: Path) -> pytest.MarkDecorator:
    """Skip the test unless HYPERDASH_PUBLIC_DATA is set and `path` exists under it."""
    if not _ROOT:
        return pytest.mark.skip(reason=f"{PUBLIC_DATA_VAR} is not set (the directory holding the public data sets)")
    return pytest.mark.skipif(not path.exists(), reason=f"{path} is absent ({PUBLIC_DATA_VAR}={_ROOT})")
