"""The gateway's workers: how one learns its place (lgsp/trust/workers.py),
and what the supervisor does with the port and with a worker that dies
(lgsp/cli/workers.py). The processes themselves: tests/e2e/test_workers.py."""

from __future__ import annotations

import socket

import pytest

from lgsp.cli.workers import bind, resolve, restart_delay
from lgsp.trust.workers import WORKER_ENV, Worker, this_worker, worker_count


def test_a_worker_learns_its_place_from_its_environment() -> None:
    assert this_worker({WORKER_ENV: "2/3"}) == Worker(2, 3)
    assert worker_count({WORKER_ENV: "2/3"}) == 3
    assert this_worker({}) is None
    assert worker_count({}) == 1
    assert str(Worker(1, 2)) == "1/2"
    for wrong in ("2", "0/2", "3/2", "a/b", "1/2/3"):
        with pytest.raises(ValueError, match=WORKER_ENV):
            this_worker({WORKER_ENV: wrong})


def test_a_worker_that_keeps_dying_waits_longer_each_time_up_to_a_bound() -> None:
    delays = [restart_delay(n) for n in range(1, 10)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert delays == sorted(delays)
    assert max(delays) == 30.0


def test_every_worker_gets_a_socket_of_its_own_on_one_port() -> None:
    addresses, port = resolve("127.0.0.1", 0)
    assert port != 0
    workers = [bind(addresses, port) for _ in range(2)]
    try:
        for sockets in workers:
            assert [s.getsockname() for s in sockets] == [("127.0.0.1", port)]
            assert all(s.get_inheritable() for s in sockets)
        # Handed over bound, not listening: nobody is connected to a worker
        # that has not started serving.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        workers[0][0].listen()
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        for sockets in workers:
            for s in sockets:
                s.close()


def test_a_port_someone_listens_on_is_refused_before_any_worker_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            resolve("127.0.0.1", port)
    # Even another group of workers, which a reuseport socket could join.
    addresses, port = resolve("127.0.0.1", 0)
    (other,) = bind(addresses, port)
    with other:
        other.listen()
        with pytest.raises(OSError, match="in use"):
            resolve("127.0.0.1", port)
