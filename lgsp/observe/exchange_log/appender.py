"""A log's appends in a process of their own: the :class:`Appender`.

Chaining a record (its HMAC) and inserting it hold the GIL: in a thread of
the gateway's, that work took the interpreter from the event loop, which
waited for it after every socket write, so the loop's answers stalled each
time a batch was written. In a process, the loop keeps its interpreter;
what crosses is the prepared rows, pickled, once a batch (about 1 µs a
record in the gateway's process).

The process is forked from a ``multiprocessing`` fork server that has
imported the SQLite engine once, so starting one takes milliseconds, not
the most of a second an interpreter importing lgsp takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from typing import Protocol, TypeVar

from lgsp.observe.exchange_log.chain import Value

T = TypeVar("T")

_CONTEXT = multiprocessing.get_context("forkserver")
# What the appender opens is the SQLite engine's log: imported once, there.
_CONTEXT.set_forkserver_preload(["lgsp.observe.exchange_log.sqlite"])


class Appendable(Protocol):
    """What the appender writes to (blocking): :class:`.sqlite.SqliteLog`."""

    def append(self, prepared: Sequence[list[Value]]) -> None: ...


class AppenderUnavailable(Exception):
    """No process can be started here to append."""


class Appender:
    """Appends to the log ``opener`` opens, in a process of its own (``opener``
    is pickled into it: a module-level callable or a partial of one).

    The process ignores SIGINT and SIGTERM (a Ctrl-C reaches the whole
    process group): it ends when this process shuts it down, after the last
    batch, or as soon as this process is gone. When it ends otherwise, the
    append raises :class:`OSError` (the recorder keeps the batch) and the
    next one starts a new process; when no process can be started at all,
    :class:`AppenderUnavailable`."""

    def __init__(self, opener: Callable[[], Appendable]) -> None:
        self._opener = opener
        self._pool: ProcessPoolExecutor | None = None
        self._alive: Connection | None = None
        self.pid: int | None = None
        """The appender's process id, once it has appended."""

    def start(self) -> None:
        """Start the process now, without waiting for it: its start-up
        overlaps the gateway's."""
        # The pool starts its process with the first job it is given.
        self._submit(os.getpid)

    async def append(self, prepared: Sequence[list[Value]]) -> None:
        try:
            self.pid = await asyncio.wrap_future(self._submit(_append, prepared))
        except BrokenProcessPool as exc:
            self._discard()
            raise OSError(f"its appender process ended ({exc})") from exc

    async def close(self) -> None:
        """Wait for the batch being written, then end the process."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown)
        self._discard()

    def _submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        try:
            return self._executor().submit(fn, *args)
        except BrokenProcessPool:
            # A RuntimeError too, but a process that died: the next starts anew.
            raise
        except (OSError, ImportError, RuntimeError, EOFError) as exc:
            self._discard()
            raise AppenderUnavailable(f"no process can be started: {exc!r}") from exc

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Only this process writes to the pipe: when it is gone, however
            # it ended, the appender reads the end of it and ends too.
            theirs, self._alive = _CONTEXT.Pipe(duplex=False)
            self._pool = ProcessPoolExecutor(
                1, mp_context=_CONTEXT, initializer=_open, initargs=(self._opener, theirs)
            )
        return self._pool

    def _discard(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._alive is not None:
            self._alive.close()
        self._pool, self._alive, self.pid = None, None, None


# -- in the appender's process ------------------------------------------------------

_LOG: Appendable | None = None
_APPENDING = threading.Lock()


def _open(opener: Callable[[], Appendable], alive: Connection) -> None:
    global _LOG
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Not the gateway's output: a pipe its supervisor reads to the end would
    # stay open after the gateway died. Failures come back as exceptions.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    _LOG = opener()
    threading.Thread(target=_end_with_the_gateway, args=(alive,), daemon=True).start()


def _end_with_the_gateway(alive: Connection) -> None:
    # Nothing is ever sent: the read ends when the gateway's end closes (a
    # gateway killed never shut the pool down). The batch being written is
    # finished first.
    with contextlib.suppress(EOFError, OSError):
        while True:
            alive.recv_bytes()
    with _APPENDING:
        os._exit(0)


def _append(prepared: Sequence[list[Value]]) -> int:
    assert _LOG is not None, "the appender's initializer opens the log"
    with _APPENDING:
        _LOG.append(prepared)
    return os.getpid()
