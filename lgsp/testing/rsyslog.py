"""A private rsyslog collector for tests: Debian's ``rsyslogd`` receiving
syslog over TLS (imtcp with the gtls driver) on a free loopback port, and
writing each message it received to a file the test reads.

Everything it uses lives in its own temporary folder: the configuration,
a CA and a server certificate made here (``cryptography``), its work
directory, its pid file and what it received. It loads no local input (no
imuxsock, no /dev/log), touches no system file, and is stopped by the
process id it was started with, never by name, so any other rsyslogd on the
machine goes on undisturbed.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lgsp.testing.servers import LOOPBACK, Stoppable, free_ports

RSYSLOGD = "rsyslogd"

_CONFIG = """\
global(
  workDirectory="{folder}/work"
  maxMessageSize="64k"
  defaultNetstreamDriver="gtls"
  defaultNetstreamDriverCAFile="{folder}/ca.pem"
  defaultNetstreamDriverCertFile="{folder}/server.pem"
  defaultNetstreamDriverKeyFile="{folder}/server-key.pem"
)
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="received" type="string" string="%msgid%\\t%procid%\\t%hostname%\\t%msg%\\n")
ruleset(name="received") {{
  action(type="omfile" file="{folder}/received.log" template="received" asyncWriting="off"
         flushOnTXEnd="on")
}}
input(type="imtcp" address="{host}" port="{port}" ruleset="received")
"""


class RsyslogError(RuntimeError):
    """rsyslogd is missing, or did not start (its output attached)."""


@dataclass(frozen=True, slots=True)
class Received:
    """One message as the collector wrote it down."""

    msgid: str
    procid: str
    hostname: str
    body: str


class RsyslogCollector(Stoppable):
    """One private rsyslogd: ``start`` (again, on the same port), ``halt``
    (the collector down, what it received kept), ``stop`` (gone, folder too)."""

    def __init__(self, folder: Path, port: int, *, owns_folder: bool = True) -> None:
        self.folder = folder
        self.port = port
        self._owns_folder = owns_folder
        self._process: subprocess.Popen[bytes] | None = None
        (folder / "work").mkdir(parents=True, exist_ok=True)
        write_certificates(folder)
        self.config_file.write_text(
            _CONFIG.format(folder=folder, host=LOOPBACK, port=port), encoding="utf-8"
        )

    @property
    def url(self) -> str:
        """What ``[soc] url`` (``LGSP_SOC_URL``) names to send here."""
        return f"tls://{LOOPBACK}:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The CA the collector's certificate is signed by (``LGSP_SOC_CA``)."""
        return self.folder / "ca.pem"

    @property
    def config_file(self) -> Path:
        return self.folder / "rsyslog.conf"

    @property
    def received_file(self) -> Path:
        return self.folder / "received.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start rsyslogd (again) and return once it accepts connections."""
        if self.running:
            return
        executable = shutil.which(RSYSLOGD) or next(
            (p for p in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd") if os.access(p, os.X_OK)), None
        )
        if executable is None:
            raise RsyslogError("rsyslogd is not installed (Debian: rsyslog rsyslog-gnutls)")
        pidfile = self.folder / "rsyslogd.pid"
        pidfile.unlink(missing_ok=True)
        with (self.folder / "console.log").open("ab") as console:
            self._process = subprocess.Popen(
                [executable, "-n", "-f", str(self.config_file), "-i", str(pidfile)],
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RsyslogError(
                    f"rsyslogd exited ({self._process.returncode}):\n{self.log_tail()}"
                )
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.halt()
        raise RsyslogError(f"rsyslogd did not listen within {timeout} s:\n{self.log_tail()}")

    def halt(self, timeout: float = 10.0) -> None:
        """Stop the daemon we started (SIGTERM, then SIGKILL); files stay."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def stop(self) -> None:
        self.halt()
        if self._owns_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        console = self.folder / "console.log"
        if not console.exists():
            return ""
        return "\n".join(console.read_text(errors="replace").splitlines()[-lines:])

    def received(self) -> list[Received]:
        """Every message received so far, in order."""
        if not self.received_file.exists():
            return []
        out = []
        for line in self.received_file.read_text(encoding="utf-8").splitlines():
            msgid, procid, hostname, body = line.split("\t", 3)
            out.append(Received(msgid, procid, hostname, body))
        return out

    def counted(self) -> Counter[str]:
        """Messages received so far, by MSGID (the kind of event)."""
        return Counter(r.msgid for r in self.received())


def start_collector(timeout: float = 20.0, *, parent: str | Path | None = None) -> RsyslogCollector:
    """A private rsyslogd receiving syslog over TLS on a free loopback port,
    in a new folder of ``parent`` (default: the system's temporary folder).
    Raises :class:`RsyslogError` when it cannot start."""
    folder = Path(tempfile.mkdtemp(prefix="lgsp-rsyslog-", dir=parent))
    try:
        collector = RsyslogCollector(folder, free_ports(1)[0])
        collector.start(timeout)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return collector


def write_certificates(folder: Path) -> None:
    """A CA (``ca.pem``) and the collector's certificate for 127.0.0.1 and
    localhost (``server.pem``, ``server-key.pem``) in ``folder``."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lgsp test SOC CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(server.public_bytes(pem))
    (folder / "server-key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
