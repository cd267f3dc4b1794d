"""lgsp/store/sqlite.py: the SQLite files of the data folder, opened at the
same moment by several processes (the workers of one gateway, gateways
started together), each get a working connection in WAL mode."""

from __future__ import annotations

import multiprocessing
import stat
from multiprocessing.synchronize import Barrier
from pathlib import Path
from queue import Empty, Queue

from lgsp.store.sqlite import open_sqlite

OPENERS = 4
FILES = 60
"""New files opened together: before the retry, 4 processes failed on 5 to
15 % of them with "database is locked"."""


def _open_each(folder: Path, barrier: Barrier, errors: Queue[str]) -> None:
    for n in range(FILES):
        barrier.wait(timeout=30)
        try:
            conn = open_sqlite(folder / f"{n}.db")
            conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY)")
            conn.execute("INSERT INTO t DEFAULT VALUES")
            conn.close()
        except Exception as exc:  # reported to the test, whatever it is
            errors.put(f"{n}.db: {exc!r}")


def test_processes_opening_new_files_together_all_succeed(tmp_path: Path) -> None:
    # Spawned, not forked: the test process runs an event loop and threads.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(OPENERS)
    errors: Queue[str] = context.Queue()
    openers = [
        context.Process(target=_open_each, args=(tmp_path, barrier, errors)) for _ in range(OPENERS)
    ]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join(timeout=60)
    failed = []
    while True:
        try:
            failed.append(errors.get(timeout=0.1))
        except Empty:
            break
    assert failed == []
    assert [o.exitcode for o in openers] == [0] * OPENERS
    for n in range(FILES):
        conn = open_sqlite(tmp_path / f"{n}.db")
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (OPENERS,)
        conn.close()


def test_the_file_and_its_folder_are_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "x.db"
    open_sqlite(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
