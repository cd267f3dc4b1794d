"""The processes of one case: started in their own sessions with their output
in a log file, watched while the case runs, polled until ready, and stopped
together; and :class:`BenchError`, how any part of a run says it cannot be
measured honestly."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    """A case could not be measured honestly; the message says why."""


@dataclass
class Server:
    """One process a case started, with the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(f"    {line}" for line in text[-lines:])

    def check(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise BenchError(f"{self.name} exited with {code}; last output:\n{self.tail()}")

    def stop(self, grace_s: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        # Its own session (start_new_session): the group holds it and any child.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            print(f"  {self.name} ignored SIGTERM for {grace_s:g} s: killed", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class Fleet:
    """The processes of one case; stopped together, newest first."""

    logs: Path
    servers: list[Server] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Server:
        """Start a server; ``env`` is added to this process's environment."""
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=None if env is None else os.environ | env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(name, process, log)
        self.servers.append(server)
        return server

    def check(self) -> None:
        for server in self.servers:
            server.check()

    def tails(self) -> str:
        return "\n".join(f"  {s.name} ({s.log}):\n{s.tail(15)}" for s in self.servers)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def platform_ports() -> dict[str, str]:
    """Free ports for the simulated national platforms and the open data
    portal of an ``lgsp up`` (their defaults are fixed): a benchmark never
    takes them from a bus someone else runs."""
    return {
        "LGSP_NDXP_PORT": str(free_port()),
        "LGSP_OPENDATA_PORT": str(free_port()),
        "LGSP_VNFORM_PORT": str(free_port()),
        "LGSP_VNFORM_RECEIVER_PORT": "0",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(what: str, probe: Callable[[], bool], fleet: Fleet, timeout_s: float) -> None:
    """Poll ``probe`` until it holds; fail at the deadline or when a server dies."""
    deadline = time.monotonic() + timeout_s
    while True:
        fleet.check()
        try:
            if probe():
                return
        except (OSError, ValueError):
            pass  # not listening yet, or not answering JSON yet: poll again
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not ready after {timeout_s:g} s\n{fleet.tails()}")
        time.sleep(0.1)
