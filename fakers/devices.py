"""Emulated lab devices on 127.0.0.1 (real UDP and HTTP servers) with faults on request: what the
logger's demo and tests poll (the result-file faker is fakers/result_files.py).

    with Mmr3Device() as dev:                 # an MMR3-like bridge, UDP, on a free port
        dev.url                               # udp://127.0.0.1:PORT, the section's `device`
        dev.inject("silent", polls=3)         # the next 3 requests get no reply
        dev.inject("garbage"); dev.clear()    # garbage until cleared
        dev.inject("slow", delay=1.5)         # replies 1.5 s late
        dev.jump(3600)                        # its clock jumps an hour ahead
        dev.plan(["silent", None, "garbage"])  # one fault (or none) per coming request, in order
        dev.replies                           # every reply it sent in time, in order (late: dev.late)

`python -m fakers.devices mmr3|cryo [--port N]` serves one until SIGTERM (the demo's devices).
"""
from __future__ import annotations

import argparse
import json
import signal
import socketserver
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("silent", "garbage", "slow")
GARBAGE = b"\x00\xff\x13 MMR3 ?? garbage"


class EmulatedDevice:
    """Readings, faults and the record of replies sent; subclasses add the wire protocol."""

    def __init__(self, channels: int = 3):
        self.channels = channels
        self.n = 0                     # readings taken
        self.offset = 0.0              # the device clock's error (a clock jump moves it)
        self.replies: list[bytes] = []  # every well-formed reply sent in time, in order
        self.late: list[bytes] = []     # replies sent late (fault "slow")
        self.requests = 0
        self._plan: list[str | None] = []
        self._fault: str | None = None
        self._left: int | None = None
        self.delay = 0.0
        self.lock = threading.Lock()

    def inject(self, kind: str, polls: int | None = None, delay: float = 1.0) -> None:
        """`kind` for the next `polls` requests (None: until clear())."""
        if kind not in FAULTS:
            raise ValueError(f"fault {kind!r}: use one of {FAULTS}")
        with self.lock:
            self._fault, self._left, self.delay = kind, polls, delay

    def clear(self) -> None:
        with self.lock:
            self._fault, self._left, self._plan = None, None, []

    def plan(self, faults: list[str | None], delay: float = 1.0) -> None:
        """The fault (None: a good reply) of each of the coming requests, in order."""
        for kind in faults:
            if kind is not None and kind not in FAULTS:
                raise ValueError(f"fault {kind!r}: use one of {FAULTS}")
        with self.lock:
            self._plan, self.delay = list(faults), delay

    def jump(self, seconds: float) -> None:
        with self.lock:
            self.offset += seconds

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self.offset, timezone.utc)

    def answer(self) -> tuple[str | None, bytes | None]:
        """(fault, reply) for one request: the fault in force (and uses one poll of it), and the reply
        (None for silence)."""
        with self.lock:
            self.requests += 1
            if self._plan:
                fault = self._plan.pop(0)
            else:
                fault = self._fault
                if fault is not None and self._left is not None:
                    self._left -= 1
                    if self._left <= 0:
                        self._fault, self._left = None, None
            if fault == "silent":
                return fault, None
            if fault == "garbage":
                return fault, self.garbage()
            self.n += 1
            reply = self.reading(self.n, self.now())
            (self.late if fault == "slow" else self.replies).append(reply)
            return fault, reply

    def garbage(self) -> bytes:
        return GARBAGE

    def reading(self, n: int, at: datetime) -> bytes:
        raise NotImplementedError

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Mmr3Device(EmulatedDevice):
    """iMACRT-like request/reply over UDP: `MMR3GET` -> `MMR3 <time> ch:R:T ...`."""

    def __init__(self, port: int = 0, channels: int = 3):
        super().__init__(channels)
        self.port = port
        self.server: socketserver.UDPServer | None = None

    def reading(self, n: int, at: datetime) -> bytes:
        parts = [f"{c}:{1000 + 10 * c + n % 7:.1f}:{0.01 * c + 0.001 * (n % 13):.4f}"
                 for c in range(1, self.channels + 1)]
        return f"MMR3 {_iso(at)} {' '.join(parts)}".encode()

    @property
    def url(self) -> str:
        return f"udp://127.0.0.1:{self.port}"

    def start(self) -> None:
        device = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                if data.strip() != b"MMR3GET":
                    sock.sendto(b"ERR unknown command", self.client_address)
                    return
                fault, reply = device.answer()
                if reply is None:
                    return
                if fault == "slow":
                    time.sleep(device.delay)
                sock.sendto(reply, self.client_address)

        self.server = socketserver.ThreadingUDPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True, name="mmr3").start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class CryoDevice(EmulatedDevice):
    """A CryoConcept-like cryostat: `/status.json` (JSON) and `/device.htm` (an HTML table)."""

    def __init__(self, port: int = 0):
        super().__init__(channels=1)
        self.port = port
        self.server: ThreadingHTTPServer | None = None

    def values(self, n: int, at: datetime) -> dict[str, Any]:
        return {"timestamp": _iso(at), "pressures": {"P1": 1e-3 * (1 + n % 5), "P2": 0.5 + 0.01 * (n % 11)},
                "temperatures": {"T_mc": 0.010 + 0.0001 * (n % 17), "T_still": 0.8 + 0.001 * (n % 7)},
                "flow": 20.0 + 0.1 * (n % 9), "pt_on": n % 50 != 0}

    def reading(self, n: int, at: datetime) -> bytes:
        return json.dumps(self.values(n, at)).encode()

    def garbage(self) -> bytes:
        return b"<html><body>Internal error: \x00\xff</body>"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        device = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path not in ("/status.json", "/device.htm"):
                    self.send_error(404)
                    return
                fault, reply = device.answer()
                if reply is None:
                    time.sleep(device.delay * 10)  # silence: the connection hangs until the poller gives up
                    return
                if fault == "slow":
                    time.sleep(device.delay)
                if self.path == "/device.htm" and fault != "garbage":
                    reply = html_page(json.loads(reply))
                self.send_response(200)
                self.send_header("Content-Type", "application/json" if self.path.endswith("json") else "text/html")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True, name="cryo").start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def html_page(values: dict[str, Any]) -> bytes:
    rows = [("timestamp", values["timestamp"])]
    rows += list(values["pressures"].items()) + list(values["temperatures"].items())
    rows += [("flow", values["flow"]), ("pt_on", "on" if values["pt_on"] else "off")]
    cells = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f"<html><body><table><tr><th>name</th><th>value</th></tr>{cells}</table></body></html>".encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakers.devices", description="serve an emulated device")
    parser.add_argument("kind", choices=("mmr3", "cryo"))
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    device: EmulatedDevice = Mmr3Device(args.port) if args.kind == "mmr3" else CryoDevice(args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with device:
        print(device.url, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
