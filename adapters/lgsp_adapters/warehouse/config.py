"""The warehouse's settings, from a province's settings or the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

DEFAULT_PULL_S: Final = 900.0
"""The batch pulls' period (15 minutes)."""
DEFAULT_EXPORT_S: Final = 300.0
"""How often the Parquet copy is rewritten besides after each pull."""
DEFAULT_PULL_SHARE: Final = 0.25
"""The most of the event loop a batch pull takes while it runs."""


@dataclass(frozen=True)
class Settings:
    pull_s: float = DEFAULT_PULL_S
    """``LGSP_WAREHOUSE_PULL_S``: seconds between batch pulls of each source."""
    personal_ids: tuple[str, ...] = ()
    """``LGSP_WAREHOUSE_PERSONAL_IDS``: the source services (exact names, or
    prefixes ending ``.*`` as grants are written) whose personal ids and
    names the warehouse may keep; by default none, and those columns are
    NULL."""
    export_s: float = DEFAULT_EXPORT_S
    """``LGSP_WAREHOUSE_EXPORT_S``: seconds between Parquet rewrites."""
    threads: int = 1
    """``LGSP_WAREHOUSE_THREADS``: DuckDB's worker threads. One by default:
    the warehouse shares the machine with the bus, whose exchanges must not
    wait for a Parquet rewrite or an analyst's query to leave them a core."""
    pull_share: float = DEFAULT_PULL_SHARE
    """``LGSP_WAREHOUSE_PULL_SHARE``: the most of the event loop a batch pull
    may take (0 to 1; 1: as fast as it can). A pull reads every parcel
    through the bus, page after page, on the loop that serves the bus's
    calls: unpaced, a pull of 1,000,000 citizens' parcels left
    ``land.parcel.lookup`` 150 to 300 requests a second instead of about
    5,000 for two minutes. Paced, it waits after each page in proportion to
    the time the page took."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """From ``env`` (an adapter's settings; default: the process's environment)."""
        env = os.environ if env is None else env
        ids = env.get("LGSP_WAREHOUSE_PERSONAL_IDS", "")
        return cls(
            pull_s=float(env.get("LGSP_WAREHOUSE_PULL_S", DEFAULT_PULL_S)),
            personal_ids=tuple(p.strip() for p in ids.split(",") if p.strip()),
            export_s=float(env.get("LGSP_WAREHOUSE_EXPORT_S", DEFAULT_EXPORT_S)),
            threads=max(1, int(env.get("LGSP_WAREHOUSE_THREADS", "1"))),
            pull_share=_share(env.get("LGSP_WAREHOUSE_PULL_SHARE")),
        )

    def keeps_personal_ids(self, source: str) -> bool:
        """Whether what ``source`` gives may keep its personal ids."""
        return any(
            source == p or (p.endswith(".*") and source.startswith(p[:-1]))
            for p in self.personal_ids
        )


def _share(raw: str | None) -> float:
    if raw is None:
        return DEFAULT_PULL_SHARE
    try:
        share = float(raw)
    except ValueError:
        share = -1.0
    if not 0 < share <= 1:
        raise ValueError(f"LGSP_WAREHOUSE_PULL_SHARE must be a number in (0, 1], not {raw!r}")
    return share
