"""A private PostgreSQL server for tests and benchmarks.

:func:`start_postgres` makes a throw-away cluster of the locally installed
PostgreSQL (``initdb`` into a temporary folder), starts it on a free port of
127.0.0.1 with its socket in that folder, creates one database and returns
once it accepts clients. It never touches a system cluster::

    with start_postgres() as node:
        conn = await asyncpg.connect(node.url)
        ...
        node.restart()  # same folder and port: committed rows survive
        node.kill()     # SIGKILL, as a crash would; node.start() recovers

Authentication is ``trust`` for the cluster's one superuser, and the server
listens on loopback only. Run as root, the server runs as the ``postgres``
system user (PostgreSQL refuses to run as root), so its folder is handed to
that user; run as anyone else, it runs as that user. The server is started
in the foreground in a session of its own, like :mod:`lgsp.testing.rabbitmq`'s
node: a death during boot is seen at once, and :meth:`PostgresNode.stop` and
:meth:`PostgresNode.kill` end exactly the processes started here.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from lgsp.testing.servers import Account, Stoppable, free_ports

ENV_URL = "LGSP_TEST_POSTGRES_URL"
"""When set, tests use the server at this URL instead of starting one (its
user needs the right to create databases: each test gets one of its own)."""

USER = "lgsp"
DATABASE = "lgsp"
_LOOPBACK = "127.0.0.1"
# A throw-away cluster: durability against a machine crash is not needed,
# against a killed server it is. Without fsync, a commit still writes its WAL
# to the kernel before it returns (synchronous_commit stays on), so a killed
# server recovers every committed transaction from the page cache.
_SERVER_SETTINGS = {
    "listen_addresses": _LOOPBACK,
    "fsync": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "200",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "log_line_prefix": "%m [%p] ",
}


class PostgresNodeError(RuntimeError):
    """The server could not be made, started or stopped; the message carries its log tail."""


class PostgresNode(Stoppable):
    """One private PostgreSQL server; a context manager that stops it on exit.

    Build it with :func:`start_postgres`. ``url`` names its database as the
    cluster's superuser (no password: trust on loopback)."""

    def __init__(self, *, bindir: Path, folder: Path, port: int, account: Account) -> None:
        self.port = port
        """The server's port on 127.0.0.1."""
        self.folder = folder
        """The cluster (``data/``), its socket and log; removed by :meth:`stop`."""
        self.user = USER
        self.database = DATABASE
        self._bindir = bindir
        self._account = account
        self._process: subprocess.Popen[bytes] | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        """``postgresql://lgsp@127.0.0.1:<port>/lgsp``"""
        return self.url_for(self.database)

    @property
    def dsn(self) -> str:
        """The same as :attr:`url`, in libpq's keyword form (for ``psql``, ``pg_dump``)."""
        return f"host={_LOOPBACK} port={self.port} user={self.user} dbname={self.database}"

    def url_for(self, database: str) -> str:
        """The URL of another database of this server."""
        return f"postgresql://{self.user}@{_LOOPBACK}:{self.port}/{database}"

    def __repr__(self) -> str:
        return f"<PostgresNode port={self.port} running={self.running}>"

    @property
    def running(self) -> bool:
        """True while the server's main process (the postmaster) is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def _data(self) -> Path:
        return self.folder / "data"

    @property
    def _log(self) -> Path:
        return self.folder / "server.log"

    # -- lifecycle --------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (again) and return once it accepts clients.

        Raises :class:`PostgresNodeError` with the log tail if the server
        exits or is not ready within ``timeout`` seconds (it is then killed).
        """
        if self._stopped:
            raise PostgresNodeError("the server was stopped and its folder removed")
        if self.running:
            return
        deadline = time.monotonic() + timeout
        options = [f"-c{name}={value}" for name, value in _SERVER_SETTINGS.items()]
        with self._log.open("ab") as log:
            # Foreground, in a session of its own: we hold the postmaster,
            # see at once if it dies during boot, and end exactly what we started.
            self._process = subprocess.Popen(
                [
                    str(self._bindir / "postgres"),
                    "-D",
                    str(self._data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.folder),
                    *options,
                ],
                env=self._env(),
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._account.popen_args(),
            )
        try:
            self._await_ready(deadline)
        except BaseException:
            self.kill()
            raise

    def restart(self, timeout: float = 60.0) -> None:
        """Stop the server (fast shutdown: sessions are ended) and start it
        again in the same folder on the same port; committed rows survive."""
        self._halt()
        self.start(timeout)

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend it started, as a crash
        would; :meth:`start` then recovers the cluster from its WAL."""
        process = self._process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        self._process = None

    def stop(self) -> None:
        """Stop the server and remove its folder; idempotent."""
        if self._stopped:
            return
        try:
            self._halt()
        finally:
            self._stopped = True
            shutil.rmtree(self.folder, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log."""
        try:
            text = self._log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "(no log written)"
        return "--- server.log ---\n" + "\n".join(text)

    def psql(self, sql: str, *, database: str | None = None, timeout: float = 30.0) -> str:
        """Run SQL with ``psql`` (stops at the first error) and return its output."""
        return self._client(
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            self.url_for(database or self.database),
            "-c",
            sql,
            timeout=timeout,
        )

    # -- internals --------------------------------------------------------

    def _halt(self, timeout: float = 30.0) -> None:
        """Stop the server but keep the folder (for :meth:`restart`)."""
        process = self._process
        if process is None or process.poll() is not None:
            self._process = None
            return
        # SIGINT is PostgreSQL's "fast" shutdown: sessions are ended, a
        # checkpoint is written, the postmaster exits.
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        else:
            self._process = None

    def _await_ready(self, deadline: float) -> None:
        # The postmaster writes its state on the 8th line of postmaster.pid;
        # "ready" once it accepts connections (PostgreSQL 10 and later).
        pid_file = self._data / "postmaster.pid"
        while True:
            process = self._process
            assert process is not None
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().splitlines()
                if (
                    len(lines) >= 8
                    and lines[0].strip() == str(process.pid)
                    and lines[7].strip() == "ready"
                ):
                    return
            # Waiting on the process doubles as the poll interval and notices
            # a server that died during boot at once.
            try:
                code = process.wait(0.05)
            except subprocess.TimeoutExpired:
                pass
            else:
                raise PostgresNodeError(
                    f"PostgreSQL exited with status {code} during start\n" + self.log_tail()
                )
            if time.monotonic() >= deadline:
                raise PostgresNodeError(
                    f"PostgreSQL was not ready on port {self.port} in time\n" + self.log_tail()
                )

    def _client(self, program: str, *args: str, timeout: float = 30.0) -> str:
        try:
            done = subprocess.run(
                [str(self._bindir / program), *args],
                env=self._env(),
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
                **self._account.popen_args(),
            )
        except subprocess.TimeoutExpired:
            raise PostgresNodeError(
                f"{program} timed out after {timeout:.0f}s\n" + self.log_tail()
            ) from None
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace").strip()
            raise PostgresNodeError(
                f"{program} failed with status {done.returncode}: {output}\n" + self.log_tail()
            )
        return done.stdout.decode(errors="replace")

    def _env(self) -> dict[str, str]:
        # A clean environment: nothing from the caller's PG* settings leaks
        # into the private server or its clients.
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": str(self.folder),
        }


def start_postgres(timeout: float = 60.0, *, parent: str | Path | None = None) -> PostgresNode:
    """Make a private PostgreSQL cluster, start it, create its database and
    return it once it accepts clients.

    The node's folder is created in ``parent`` (default: the system's
    temporary folder). Raises :class:`PostgresNodeError` when PostgreSQL's
    server programs are not installed or the server does not come up within
    ``timeout`` seconds (with its log tail).
    """
    bindir = find_bindir()
    account = _server_account()
    folder = Path(tempfile.mkdtemp(prefix="lgsp-postgres-", dir=parent))
    try:
        _prepare_folder(folder, account)
        [port] = free_ports(1)
        node = PostgresNode(bindir=bindir, folder=folder, port=port, account=account)
        node._client(
            "initdb",
            "-D",
            str(folder / "data"),
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
            timeout=timeout,
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        node.start(timeout)
        node._client("createdb", "-h", _LOOPBACK, "-p", str(port), "-U", USER, DATABASE)
    except BaseException:
        node.stop()
        raise
    return node


_VERSIONED = "/usr/lib/postgresql/*/bin"


def find_bindir() -> Path:
    """The folder of PostgreSQL's server programs (``initdb``, ``postgres``):
    on PATH, else Debian's newest ``/usr/lib/postgresql/<version>/bin``, else
    what ``pg_config --bindir`` says."""
    found = shutil.which("initdb")
    if found is not None:
        return Path(found).resolve().parent
    # Debian keeps them off PATH, one folder per major version.
    versions = sorted(
        (Path(p) for p in glob.glob(_VERSIONED) if (Path(p) / "initdb").is_file()),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)],
    )
    if versions:
        return versions[-1]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, check=True, timeout=10
        )
        bindir = Path(done.stdout.decode().strip())
        if (bindir / "initdb").is_file():
            return bindir
    raise PostgresNodeError(
        f"PostgreSQL's server programs are not installed (no initdb on PATH, in {_VERSIONED} "
        "or at pg_config --bindir); install them (e.g. apt-get install postgresql) or set "
        f"{ENV_URL} to a server's URL"
    )


def _server_account() -> Account:
    euid = os.geteuid()
    if euid == 0:
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresNodeError(
                "PostgreSQL refuses to run as root and there is no postgres user to run it as"
            ) from None
        return Account(entry.pw_uid, entry.pw_gid, entry.pw_name)
    return Account(euid, os.getegid(), pwd.getpwuid(euid).pw_name)


def _prepare_folder(folder: Path, account: Account) -> None:
    if account.is_self:
        return
    # The server's account must be able to reach its folder.
    for above in folder.parents:
        if not above.stat().st_mode & 0o001:
            raise PostgresNodeError(
                f"{above} is closed to other users, so the {account.name} account cannot "
                "reach the server's folder; pass start_postgres(parent=...) a folder it can reach"
            )
    os.chown(folder, account.uid, account.gid)
