"""The assets the code defines, read from the merged Definitions (shared by the hygiene and browser tests)."""

from __future__ import annotations

from dagster import AssetSpec

from hyperdash_pipeline.definitions import defs


def defined_specs() -> list[AssetSpec]:
    """Assets the code defines (not the stand-ins Dagster makes for a dependency defined nowhere)."""
    specs: list[AssetSpec] = []
    for item in defs.assets or []:
        if isinstance(item, AssetSpec):
            specs.append(item)
        else:
            specs.extend(item.specs)  # type: ignore[union-attr]
    return specs


def assets_by_group() -> dict[str, list[AssetSpec]]:
    groups: dict[str, list[AssetSpec]] = {}
    for spec in defined_specs():
        groups.setdefault(spec.group_name or "default", []).append(spec)
    return groups
