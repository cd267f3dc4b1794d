"""The real ``lgsp`` command as a process, and the plain HTTP a person (or
another system) uses against it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def lgsp(
    *args: str, log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `lgsp ARGS` until the block ends, then stop it as an operator
    would (SIGTERM) and check that it stopped cleanly."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lgsp.cli", "--log-format", "json", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            # The exchange log and client store go beside the log, never
            # into the directory the suite runs from.
            env=os.environ
            | {"PYTHONUNBUFFERED": "1", "LGSP_DATA_DIR": str(log.parent / "lgsp-data")}
            | (env or {}),
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
    assert code == 0, log.read_text(errors="replace")[-3000:]


def wait_until(check: Any, what: str, timeout: float = 30.0, process: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process died while waiting for {what}")
        try:
            result = check()
            if result:
                return result
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def token(
    base: str, client_id: str = "dongthap.onestop", secret: str = "demo-onestop-secret"
) -> str:
    r = httpx.post(
        f"{base}/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    r.raise_for_status()
    return str(r.json()["access_token"])
