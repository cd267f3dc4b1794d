"""lgsp.testing.postgres: a private PostgreSQL server of its own (not the
session's), as a fault test uses it: committed rows survive a restart and
a kill, and stopping it leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lgsp.testing.fixtures import unavailable
from lgsp.testing.postgres import PostgresNode, PostgresNodeError, start_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def node() -> Iterator[PostgresNode]:
    try:
        started = start_postgres()
    except PostgresNodeError as exc:
        unavailable(f"cannot start a PostgreSQL server: {exc}")
    with started:
        yield started


def test_it_serves_its_database_on_loopback(node: PostgresNode) -> None:
    assert node.url == f"postgresql://lgsp@127.0.0.1:{node.port}/lgsp"
    assert f"port={node.port}" in node.dsn
    assert node.psql("SELECT current_database(), current_user") == "lgsp|lgsp\n"
    assert node.psql("SHOW listen_addresses") == "127.0.0.1\n"


def test_committed_rows_survive_a_restart_and_a_kill(node: PostgresNode) -> None:
    node.psql("CREATE TABLE kept (n INTEGER); INSERT INTO kept VALUES (1)")
    node.restart()
    node.psql("INSERT INTO kept VALUES (2)")
    node.kill()
    assert not node.running
    node.start()
    assert node.running
    assert node.psql("SELECT string_agg(n::text, ',' ORDER BY n) FROM kept") == "1,2\n"


def test_a_failure_says_why_with_the_log(node: PostgresNode) -> None:
    with pytest.raises(PostgresNodeError, match="psql failed") as failed:
        node.psql("SELEC 1")
    assert "syntax error" in str(failed.value)
    assert "server.log" in node.log_tail()


def test_stopping_removes_everything() -> None:
    try:
        own = start_postgres()
    except PostgresNodeError as exc:
        unavailable(f"cannot start a PostgreSQL server: {exc}")
    own.stop()
    assert not own.running
    assert not own.folder.exists()
    own.stop()  # idempotent
    with pytest.raises(PostgresNodeError, match="stopped"):
        own.start()
