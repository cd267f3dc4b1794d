"""A private RabbitMQ node, or a cluster of them, for tests and benchmarks.

:func:`start_node` starts a throw-away node of the locally installed
``rabbitmq-server``: its own name, data folder, Erlang cookie and free ports,
bound to 127.0.0.1 only, with no plugins. It never touches a system node::

    with start_node() as node:
        connection = await aio_pika.connect_robust(node.url)
        ...
        node.restart()  # same name, data folder and port: durable state survives

:func:`start_cluster` starts several such nodes (in parallel) with one
cookie and joins them into one cluster; ``cluster.url`` names every node, in
the form the transport takes, and a node can be crashed and brought back::

    with start_cluster(3) as cluster:
        transport = AmqpTransport(cluster.url, queue_type="quorum")
        ...
        cluster.kill(0)   # SIGKILL its Erlang VM: a real crash
        cluster.start(0)  # back, and in the cluster again

Run as root, the node runs as the ``rabbitmq`` system user (like the Debian
service), so its folder is handed to that user; run as anyone else, it runs as
that user. The process is started in the foreground in its own session, so
the node that :meth:`RabbitNode.stop` ends is exactly the one started here.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from lgsp.testing.servers import Account, Stoppable, free_ports

ENV_URL = "LGSP_TEST_AMQP_URL"
"""When set, tests use the broker at this URL instead of starting a node."""

_SEARCH_PATH = ("/usr/sbin", "/usr/local/sbin", "/opt/rabbitmq/sbin")
_LOOPBACK = "127.0.0.1"
# Erlang's distribution listener binds every interface unless told otherwise.
_LOOPBACK_DIST = "-kernel inet_dist_use_interface {127,0,0,1}"


class RabbitNodeError(RuntimeError):
    """The node could not be started or stopped; the message carries its log tail."""


class RabbitNode(Stoppable):
    """One private RabbitMQ node; a context manager that stops it on exit.

    Build it with :func:`start_node`. ``url`` is the AMQP URL of the default
    ``guest`` user (usable from loopback only, which is all the node listens on).
    """

    def __init__(
        self,
        *,
        scripts: Path,
        folder: Path,
        name: str,
        port: int,
        dist_port: int,
        account: Account,
    ) -> None:
        self.name = name
        """Erlang node name, ``lgsp-test-<hex>@localhost``."""
        self.port = port
        """AMQP port on 127.0.0.1."""
        self.folder = folder
        """Data, logs, configuration and cookie; removed by :meth:`stop`."""
        self._scripts = scripts
        self._dist_port = dist_port
        self._account = account
        self._process: subprocess.Popen[bytes] | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        """``amqp://guest:guest@127.0.0.1:<port>/``"""
        return f"amqp://guest:guest@{_LOOPBACK}:{self.port}/"

    def __repr__(self) -> str:
        return f"<RabbitNode {self.name} port={self.port} running={self.running}>"

    @property
    def running(self) -> bool:
        """True while the node's process is alive."""
        return self._process is not None and self._process.poll() is None

    # -- lifecycle --------------------------------------------------------

    def start(self, timeout: float = 90.0) -> None:
        """Start the node (again) and return once it accepts AMQP clients.

        Raises :class:`RabbitNodeError` with the log tail if the node exits or
        is not ready within ``timeout`` seconds (it is then halted).
        """
        if self._stopped:
            raise RabbitNodeError(f"{self.name} was stopped and its folder removed")
        if self.running:
            return
        deadline = time.monotonic() + timeout
        with (self.folder / "console.log").open("ab") as console:
            # Foreground, in a session of its own: we hold the process, see at
            # once if it dies during boot, and can end exactly what we started.
            self._process = subprocess.Popen(
                [str(self._scripts / "rabbitmq-server")],
                env=self._env(),
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._account.popen_args(),
            )
        try:
            self._await_listener(deadline)
            # The AMQP listener opens late in the boot, but only the node
            # itself knows when every boot step is done.
            self.ctl(
                "await_startup",
                "--timeout",
                str(max(1, int(deadline - time.monotonic()))),
                timeout=max(1.0, deadline - time.monotonic()) + 15,
            )
        except BaseException:
            self._halt()
            raise

    def kill(self) -> None:
        """Crash the node: SIGKILL its Erlang VM, as a machine's failure
        would, with no chance to tell its peers or clients. The folder stays:
        :meth:`start` brings the node back with its data."""
        process = self._process
        if process is None or process.poll() is not None:
            self._process = None
            return
        try:
            vm = int((self.folder / "node.pid").read_text().strip())
        except (OSError, ValueError):
            vm = None
        # The VM is ours only if it runs in the session started here.
        if vm is not None and _session_of(vm) == process.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(vm, signal.SIGKILL)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        try:
            # The start script returns once its VM is gone.
            process.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        self._process = None

    def restart(self, timeout: float = 90.0) -> None:
        """Stop the node and start it again with the same name, data folder and
        port: durable queues and persistent messages survive, connections do not."""
        self._halt()
        self.start(timeout)

    def stop(self) -> None:
        """Stop the node and remove its folder; idempotent."""
        if self._stopped:
            return
        try:
            self._halt()
        finally:
            self._stopped = True
            shutil.rmtree(self.folder, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the node's console output and log file."""
        parts = []
        for path in (self.folder / "console.log", self.folder / "log" / f"{self.name}.log"):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name} ---\n" + "\n".join(text))
        return "\n".join(parts) or "(no log written)"

    # -- internals --------------------------------------------------------

    def _halt(self, timeout: float = 30.0) -> None:
        """Stop the process but keep the folder (for :meth:`restart`)."""
        process = self._process
        if process is None or process.poll() is not None:
            self._process = None
            return
        try:
            self.ctl("stop", timeout=timeout)
            process.wait(timeout)
        except (RabbitNodeError, subprocess.TimeoutExpired):
            # The node did not stop cleanly: end the session we started (the
            # start script, the Erlang VM and its helpers), nothing else.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        finally:
            self._process = None

    def _await_listener(self, deadline: float) -> None:
        while True:
            process = self._process
            assert process is not None
            with (
                contextlib.suppress(OSError),
                socket.create_connection((_LOOPBACK, self.port), timeout=1.0),
            ):
                return
            # Waiting on the process doubles as the poll interval and notices
            # a node that died during boot at once.
            try:
                code = process.wait(0.1)
            except subprocess.TimeoutExpired:
                pass
            else:
                raise RabbitNodeError(
                    f"RabbitMQ node {self.name} exited with status {code} during boot\n"
                    + self.log_tail()
                )
            if time.monotonic() >= deadline:
                raise RabbitNodeError(
                    f"RabbitMQ node {self.name} did not open port {self.port} in time\n"
                    + self.log_tail()
                )

    def add_vhost(self, name: str) -> str:
        """Create a virtual host (if new) that ``guest`` may use fully, and
        return its AMQP URL: one province's own broker space."""
        if name not in self.ctl("list_vhosts", "--quiet", "--no-table-headers").split():
            self.ctl("add_vhost", name)
        self.ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        return f"{self.url.rstrip('/')}/{name}"

    def close_connections(self, connection_name: str) -> int:
        """Close, from the broker's side, every client connection that gave
        this ``connection_name`` (an lgsp transport's is ``lgsp-<transport id>``):
        a lost connection without losing the node. Returns how many."""
        listed = self.ctl("list_connections", "pid", "client_properties", "--no-table-headers")
        wanted = f'{{"connection_name","{connection_name}"}}'
        pids = [line.split("\t", 1)[0] for line in listed.splitlines() if wanted in line]
        for pid in pids:
            self.ctl("close_connection", pid, "closed by the test")
        return len(pids)

    def ctl(self, *args: str, timeout: float = 30.0) -> str:
        try:
            done = subprocess.run(
                [str(self._scripts / "rabbitmqctl"), "-n", self.name, *args],
                env=self._env(),
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
                **self._account.popen_args(),
            )
        except subprocess.TimeoutExpired:
            raise RabbitNodeError(
                f"rabbitmqctl {' '.join(args)} timed out after {timeout:.0f}s\n" + self.log_tail()
            ) from None
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace").strip()
            raise RabbitNodeError(
                f"rabbitmqctl {' '.join(args)} failed with status {done.returncode}: {output}\n"
                + self.log_tail()
            )
        return done.stdout.decode(errors="replace")

    def _env(self) -> dict[str, str]:
        # A clean environment: nothing from the caller's RABBITMQ_* or ERL_*
        # settings (or /etc/rabbitmq) leaks into the private node.
        folder = self.folder
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            # Server and CLI share HOME, hence the node's own cookie file.
            "HOME": str(folder),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": _LOOPBACK,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self._dist_port),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_PID_FILE": str(folder / "node.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": _LOOPBACK_DIST,
            # The CLI is an Erlang node too: loopback only, any free port.
            "RABBITMQ_CTL_ERL_ARGS": _LOOPBACK_DIST,
            "RABBITMQ_CTL_DIST_PORT_MIN": "0",
            "RABBITMQ_CTL_DIST_PORT_MAX": "0",
            "ERL_EPMD_ADDRESS": _LOOPBACK,
        }


class RabbitCluster(Stoppable):
    """Private RabbitMQ nodes joined in one cluster; a context manager that
    stops them all on exit. Build it with :func:`start_cluster`.

    ``nodes[i]`` is each :class:`RabbitNode`; :meth:`kill` and :meth:`start`
    take a node down (a crash) and bring it back (it rejoins by itself: its
    data folder remembers the cluster).
    """

    def __init__(self, nodes: Sequence[RabbitNode]) -> None:
        self.nodes = list(nodes)

    @property
    def urls(self) -> list[str]:
        """Each node's own AMQP URL."""
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """One URL naming every node, as the transport takes it:
        ``amqp://guest:guest@127.0.0.1:<port1>,127.0.0.1:<port2>,.../``."""
        return self.url_for()

    def url_for(self, vhost: str = "", *, first: int = 0) -> str:
        """The URL naming every node, of a virtual host, with node ``first``
        first (a transport connects to the first node that answers)."""
        order = self.nodes[first:] + self.nodes[:first]
        hosts = ",".join(f"{_LOOPBACK}:{node.port}" for node in order)
        return f"amqp://guest:guest@{hosts}/{vhost}"

    def __repr__(self) -> str:
        return f"<RabbitCluster {self.nodes!r}>"

    def index(self, address: str) -> int:
        """Which node listens at ``host:port`` (e.g. the node a transport is on)."""
        port = int(address.rpartition(":")[2])
        return next(i for i, node in enumerate(self.nodes) if node.port == port)

    def kill(self, i: int) -> None:
        """Crash node ``i`` (SIGKILL of its Erlang VM)."""
        self.nodes[i].kill()

    def start(self, i: int, timeout: float = 90.0) -> None:
        """Bring node ``i`` back; it returns once the node is up and in the cluster."""
        self.nodes[i].start(timeout)

    def stop(self) -> None:
        """Stop every node and remove their folders; idempotent."""
        _each(self.nodes, RabbitNode.stop)

    def ctl(self, *args: str, timeout: float = 30.0) -> str:
        """``rabbitmqctl`` on a running node (what it changes is the cluster's)."""
        for node in self.nodes:
            if node.running:
                return node.ctl(*args, timeout=timeout)
        raise RabbitNodeError("no node of the cluster is running")

    def add_vhost(self, name: str) -> str:
        """Create a virtual host (cluster-wide) and return its URL naming every node."""
        for node in self.nodes:
            if node.running:
                node.add_vhost(name)
                return self.url_for(name)
        raise RabbitNodeError("no node of the cluster is running")

    def running_nodes(self) -> list[str]:
        """The names of the nodes the cluster sees running."""
        status = self.ctl("cluster_status", "--formatter", "json")
        names: list[str] = orjson.loads(status)["running_nodes"]
        return names

    def _form(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # Booting is most of the time: every node at once.
        _each(self.nodes, lambda node: node.start(timeout))
        seed, *others = self.nodes

        def ctl(*args: str) -> Callable[[RabbitNode], None]:
            def run(node: RabbitNode) -> None:
                node.ctl(*args, timeout=max(1.0, deadline - time.monotonic()) + 15)

            return run

        _each(others, ctl("stop_app"))
        # One at a time: each join changes the cluster's schema on every member.
        for node in others:
            ctl("join_cluster", seed.name)(node)
        _each(others, ctl("start_app"))
        running = self.running_nodes()
        if sorted(running) != sorted(node.name for node in self.nodes):
            raise RabbitNodeError(f"the cluster formed with {running} only")


def start_node(timeout: float = 90.0, *, parent: str | Path | None = None) -> RabbitNode:
    """Start a private RabbitMQ node and return it once it accepts AMQP clients.

    The node's folder is created in ``parent`` (default: the system's
    temporary folder). Raises :class:`RabbitNodeError` when ``rabbitmq-server``
    is not installed or the node does not come up within ``timeout`` seconds
    (with its log tail).
    """
    scripts, account = _find_scripts(), _node_account()
    port, dist_port = free_ports(2)
    node = _new_node(
        scripts,
        account,
        parent,
        name=f"lgsp-test-{secrets.token_hex(4)}@localhost",
        ports=(port, dist_port),
        cookie=_cookie(),
    )
    try:
        node.start(timeout)
    except BaseException:
        node.stop()
        raise
    return node


def start_cluster(
    size: int = 3, timeout: float = 120.0, *, parent: str | Path | None = None
) -> RabbitCluster:
    """Start ``size`` private RabbitMQ nodes, join them in one cluster, and
    return it once every node runs in it.

    Each node has its own name, folder (in ``parent``), AMQP and distribution
    ports, all on 127.0.0.1, and one Erlang cookie they share. Raises
    :class:`RabbitNodeError` (having stopped what it started) when
    ``rabbitmq-server`` is missing or the cluster is not formed within
    ``timeout`` seconds.
    """
    if size < 1:
        raise ValueError("a cluster has at least one node")
    scripts, account = _find_scripts(), _node_account()
    tag, cookie = secrets.token_hex(4), _cookie()
    ports = free_ports(2 * size)
    nodes: list[RabbitNode] = []
    try:
        for i in range(size):
            nodes.append(
                _new_node(
                    scripts,
                    account,
                    parent,
                    name=f"lgsp-test-{tag}-{i + 1}@localhost",
                    ports=(ports[2 * i], ports[2 * i + 1]),
                    cookie=cookie,
                )
            )
        cluster = RabbitCluster(nodes)
        cluster._form(timeout)
    except BaseException:
        _each(nodes, RabbitNode.stop)
        raise
    return cluster


def _new_node(
    scripts: Path,
    account: Account,
    parent: str | Path | None,
    *,
    name: str,
    ports: tuple[int, int],
    cookie: str,
) -> RabbitNode:
    """A node with its folder made and configured, not started."""
    folder = Path(tempfile.mkdtemp(prefix="lgsp-rabbitmq-", dir=parent))
    try:
        port, dist_port = ports
        _prepare_folder(folder, port, account, cookie)
        return RabbitNode(
            scripts=scripts,
            folder=folder,
            name=name,
            port=port,
            dist_port=dist_port,
            account=account,
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _each(nodes: Sequence[RabbitNode], job: Callable[[RabbitNode], None]) -> None:
    """Run ``job`` on every node at once; the first failure is raised once all are done."""
    if not nodes:
        return
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        futures = [pool.submit(job, node) for node in nodes]
    for future in futures:
        future.result()


def _cookie() -> str:
    return secrets.token_hex(16).upper()


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except ProcessLookupError:
        return None


def _find_scripts() -> Path:
    """The folder of the real RabbitMQ scripts (rabbitmq-server, rabbitmqctl)."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SEARCH_PATH])
    found = shutil.which("rabbitmq-server", path=search)
    if found is None:
        raise RabbitNodeError(
            "rabbitmq-server is not installed (looked on PATH and in "
            + ", ".join(_SEARCH_PATH)
            + "); install it (e.g. apt-get install rabbitmq-server) or set "
            + f"{ENV_URL} to a broker's AMQP URL"
        )
    real = Path(found).resolve()
    # Debian's /usr/sbin entries are a wrapper that insists on root or the
    # rabbitmq user and switches user with su; next to it are the real
    # scripts, which we run directly with the account we choose.
    if real.name == "rabbitmq-script-wrapper":
        return real.parent
    return Path(found).parent


def _node_account() -> Account:
    euid = os.geteuid()
    if euid == 0:
        try:
            entry = pwd.getpwnam("rabbitmq")
        except KeyError:
            pass
        else:
            # Like the packaged service: never run the broker as root.
            return Account(entry.pw_uid, entry.pw_gid, entry.pw_name)
    return Account(euid, os.getegid(), pwd.getpwuid(euid).pw_name)


def _prepare_folder(folder: Path, port: int, account: Account, cookie: str) -> None:
    if not account.is_self:
        # The node's account must be able to reach its folder.
        for above in folder.parents:
            if not above.stat().st_mode & 0o001:
                raise RabbitNodeError(
                    f"{above} is closed to other users, so the {account.name} account cannot "
                    "reach the node's folder; pass start_node(parent=...) a folder it can reach"
                )
    (folder / "mnesia").mkdir()
    (folder / "log").mkdir()
    (folder / "enabled_plugins").write_text("[].\n")
    (folder / "rabbitmq.conf").write_text(
        "# Private test node: loopback only, default guest user (loopback only).\n"
        f"listeners.tcp.1 = {_LOOPBACK}:{port}\n"
        "loopback_users.guest = true\n"
        "log.console = true\n"
        "log.console.level = warning\n"
        "log.file.level = info\n"
    )
    cookie_file = folder / ".erlang.cookie"
    cookie_file.write_text(cookie)
    cookie_file.chmod(0o400)
    if not account.is_self:
        for path in (folder, *folder.rglob("*")):
            os.chown(path, account.uid, account.gid)
