"""The checked-in export (contracts/schemas/) is exactly what the models give."""

from __future__ import annotations

from pathlib import Path

import pytest

from lgsp.catalogue.compat import diff_exports
from lgsp.catalogue.export import INDEX, SERVICES, TOPICS, load_export, write_export
from lgsp.catalogue.registry import Registry

CHECKED_IN = Path(__file__).resolve().parents[2] / "contracts" / "schemas"


def _files(directory: Path) -> dict[str, bytes]:
    found = {INDEX: (directory / INDEX).read_bytes()} if (directory / INDEX).is_file() else {}
    for sub in (SERVICES, TOPICS):
        for path in sorted((directory / sub).rglob("*")):
            if path.is_file():
                found[path.relative_to(directory).as_posix()] = path.read_bytes()
    return found


def test_checked_in_export_matches_the_models(tmp_path: Path) -> None:
    write_export(Registry.from_entry_points(), tmp_path)
    fresh, checked_in = _files(tmp_path), _files(CHECKED_IN)
    if fresh == checked_in:
        return
    missing = sorted(fresh.keys() - checked_in.keys())
    stale = sorted(checked_in.keys() - fresh.keys())
    changed = sorted(k for k in fresh.keys() & checked_in.keys() if fresh[k] != checked_in[k])
    lines = [
        "contracts/schemas/ has drifted from the contract models; "
        "run `lgsp contracts export contracts/schemas` and commit the result.",
        *(f"  not checked in: {p}" for p in missing),
        *(f"  no longer exported: {p}" for p in stale),
        *(f"  changed: {p}" for p in changed),
    ]
    published = [p for p in changed + stale if p != INDEX]
    if published:
        lines.append(
            "A published version changed or disappeared: versions are immutable, "
            "add a new version instead. What changed:"
        )
        try:
            changes = diff_exports(load_export(CHECKED_IN), load_export(tmp_path))
            lines += [f"  {change}" for change in changes]
        except ValueError as exc:  # a hand-edited file may not even be JSON
            lines.append(f"  (cannot compare: {exc})")
    pytest.fail("\n".join(lines), pytrace=False)
