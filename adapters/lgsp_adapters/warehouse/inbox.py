"""The inbox: where an event lands before it is acknowledged.

A small SQLite file (WAL, ``synchronous=NORMAL``): one commit per event
costs tens of microseconds, where a DuckDB commit costs more than a
millisecond, so events are accepted at the bus's pace and moved into
DuckDB in bulk (:mod:`.ingest`). Each event is keyed, so a redelivered
event lands once (``INSERT OR IGNORE``); ``seq`` orders them, and DuckDB
keeps the last ``seq`` it loaded.

Used from one thread only (the inbox's own).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from lgsp_adapters.warehouse.store import local

InboxRow = tuple[int, str, str, str, dt.datetime]
"""seq, event key, topic, body (JSON), when it was accepted (local time)."""


class Inbox:
    """The inbox at ``path``, or in memory (``path`` None)."""

    def __init__(self, path: Path | None) -> None:
        self.db = sqlite3.connect(
            str(path) if path is not None else ":memory:",
            check_same_thread=False,  # one thread uses it, but not the one that made it
            isolation_level=None,
        )
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS inbox ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " event_key TEXT NOT NULL UNIQUE,"
            " topic TEXT NOT NULL,"
            " body TEXT NOT NULL,"
            " accepted_at TEXT NOT NULL)"
        )

    def put(self, event_key: str, topic: str, body: str) -> bool:
        """Keep one event (committed when this returns); False when it was
        already there."""
        now = local(dt.datetime.now(dt.UTC)).isoformat()
        cur = self.db.execute(
            "INSERT OR IGNORE INTO inbox (event_key, topic, body, accepted_at) VALUES (?, ?, ?, ?)",
            (event_key, topic, body, now),
        )
        return cur.rowcount == 1

    def after(self, seq: int, limit: int) -> list[InboxRow]:
        """Events after ``seq``, oldest first."""
        rows = self.db.execute(
            "SELECT seq, event_key, topic, body, accepted_at FROM inbox "
            "WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [(s, k, t, b, dt.datetime.fromisoformat(a)) for s, k, t, b, a in rows]

    def last_seq(self) -> int:
        row = self.db.execute("SELECT coalesce(max(seq), 0) FROM inbox").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.db.close()
