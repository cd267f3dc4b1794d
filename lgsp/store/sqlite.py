"""Opening a SQLite file of the data folder, as every SQLite engine of the
bus's state does: one file that the processes sharing the folder (the
workers of one gateway, gateways started at once) open together.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Literal

BUSY_TIMEOUT_S = 10.0
"""How long a statement waits for another connection's lock."""


def open_sqlite(
    path: Path,
    *,
    timeout: float = BUSY_TIMEOUT_S,
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
) -> sqlite3.Connection:
    """A connection in autocommit mode, usable from any one thread at a time,
    to ``path`` in WAL mode: created 0600 (its WAL files copy the mode), in a
    0700 folder, waiting up to ``timeout`` for the locks of others.

    Switching a new file to WAL needs every other connection out of it, and
    SQLite refuses it at once ("database is locked"), without waiting, when
    several processes open the new file together: that is retried here until
    ``timeout``, and any other error is raised."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(0.005)  # the other opener holds it for well under a millisecond
        conn.execute(f"PRAGMA synchronous = {synchronous}")
    except BaseException:
        conn.close()
        raise
    return conn
