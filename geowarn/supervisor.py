"""Runs geowarn's processes side by side and stops them all together.

Used by ``geowarn demo``: each service is a child process (``python -m
geowarn.cli ...``) that asks Linux to terminate it when the supervisor dies,
so that neither Ctrl-C nor a killed terminal leaves an orphan behind.
A child that exits unexpectedly is restarted with a back-off, a few times.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from geowarn.embedded import _die_with_parent

log = logging.getLogger(__name__)


@dataclass
class Service:
    name: str
    args: list[str]
    restarts_left: int = 5
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


class Supervisor:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.services: list[Service] = []
        self._stopping = False

    def add(self, name: str, *cli_args: str, env: dict[str, str] | None = None) -> Service:
        service = Service(name, [sys.executable, "-m", "geowarn.cli", *cli_args],
                          log_path=self.log_dir / f"{name}.log", env=env or {})
        self.services.append(service)
        return service

    def start(self, service: Service) -> None:
        assert service.log_path is not None
        service.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(service.log_path, "ab") as out:
            service.process = subprocess.Popen(
                service.args, env={**os.environ, **self.env, **service.env},
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only a prctl call
                start_new_session=True)
        service.started_at = time.monotonic()
        log.info("started %s (pid %d), log: %s", service.name, service.process.pid, service.log_path)

    def start_all(self) -> None:
        for service in self.services:
            self.start(service)

    def watch(self, poll_seconds: float = 0.5) -> int:
        """Block until interrupted or a service fails for good; return an exit status."""
        status = 0
        with _interrupt_as_stop(self):
            while not self._stopping:
                for service in self.services:
                    code = service.process.poll() if service.process else None
                    if code is None:
                        continue
                    if service.restarts_left <= 0:
                        log.error("%s exited with status %s and will not be restarted; see %s",
                                  service.name, code, service.log_path)
                        self._stopping = True
                        status = 1
                        break
                    service.restarts_left -= 1
                    wait = 1.0 if time.monotonic() - service.started_at > 30 else 3.0
                    log.warning("%s exited with status %s; restarting in %.0f s (see %s)",
                                service.name, code, wait, service.log_path)
                    time.sleep(wait)
                    self.start(service)
                time.sleep(poll_seconds)
        self.stop_all()
        return status

    def stop_all(self, timeout: float = 10.0) -> None:
        self._stopping = True
        running = [s for s in self.services if s.process and s.process.poll() is None]
        for service in running:
            with contextlib.suppress(ProcessLookupError):
                service.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for service in running:
            try:
                service.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", service.name, timeout)
                service.process.kill()
                service.process.wait()
        for service in running:
            log.info("stopped %s", service.name)


@contextlib.contextmanager
def _interrupt_as_stop(supervisor: Supervisor):
    def request_stop(signum, _frame):
        log.info("received %s, stopping every service", signal.Signals(signum).name)
        supervisor._stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
