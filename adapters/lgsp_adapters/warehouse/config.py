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
        )

    def keeps_personal_ids(self, source: str) -> bool:
        """Whether what ``source`` gives may keep its personal ids."""
        return any(
            source == p or (p.endswith(".*") and source.startswith(p[:-1]))
            for p in self.personal_ids
        )
