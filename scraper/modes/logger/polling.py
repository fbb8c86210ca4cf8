"""Asking a device: one request, one reply, within `timeout`; a failure is a fault, never a value.

A thermometry bridge that does not answer, answers garbage or answers too late must not stop the
section nor put a made-up number in the target: the poll yields nothing and the fault is logged once
when a spell of them begins (WARNING) and once when the device answers again (INFO), however long
the spell and however many polls it spans.
"""
from __future__ import annotations

import http.client
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from .api import Device

log = logging.getLogger("scraper.logger")


class DeviceFault(Exception):
    """A poll that produced no reading: the reason names what happened."""


@dataclass
class Reply:
    data: bytes
    received: float  # UTC unix seconds at the reply's arrival


def address(text: str, protocol: str) -> tuple[str, int, str]:
    """(host, port, path) of `device = udp://HOST:PORT` or `http://HOST:PORT[/prefix]`; ValueError."""
    parts = urlsplit(text)
    if parts.scheme != protocol:
        raise ValueError(f'"{text}": the regime\'s device speaks {protocol}: use {protocol}://HOST:PORT')
    if not parts.hostname or parts.port is None:
        raise ValueError(f'"{text}" names no host and port (use {protocol}://HOST:PORT)')
    return parts.hostname, parts.port, parts.path.rstrip("/")


class Poller:
    def __init__(self, device: Device, where: str, timeout: float):
        self.device, self.where, self.timeout = device, where, timeout
        self.host, self.port, self.prefix = address(where, device.protocol)
        self.sock: socket.socket | None = None
        self.faults = 0
        self._spell: tuple[float, int] | None = None  # (start, polls failed) of the current fault spell

    def ask(self) -> Reply:
        """The device's reply to `query()`; DeviceFault when there is none (timeout, refused, HTTP error)."""
        try:
            if self.device.protocol == "udp":
                return self._udp(_bytes(self.device.query()))
            return self._http(self.device.query())
        except (OSError, http.client.HTTPException) as exc:
            raise DeviceFault(_why(exc, self.timeout)) from None

    def _udp(self, query: bytes) -> Reply:
        if self.sock is None:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.connect((self.host, self.port))
        self.sock.setblocking(False)
        try:  # a reply that came after an earlier poll's timeout is not this poll's answer
            while True:
                self.sock.recv(65536)
        except (BlockingIOError, ConnectionRefusedError):
            pass
        self.sock.settimeout(self.timeout)
        self.sock.send(query)
        data = self.sock.recv(65536)
        return Reply(data, round(time.time(), 6))

    def _http(self, path: bytes | str) -> Reply:
        path = path.decode() if isinstance(path, bytes) else path
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("GET", self.prefix + path)
            response = conn.getresponse()
            data = response.read()
            received = round(time.time(), 6)
        finally:
            conn.close()
        if response.status != 200:
            raise DeviceFault(f"HTTP {response.status} {response.reason}")
        return Reply(data, received)

    # --- spells -----------------------------------------------------------------------------------
    def failed(self, why: str) -> None:
        self.faults += 1
        if self._spell is None:
            self._spell = (time.monotonic(), 0)
            log.warning("device %s: %s; no reading is written while it lasts", self.where, why)
        self._spell = (self._spell[0], self._spell[1] + 1)

    def answered(self) -> None:
        if self._spell is not None:
            start, polls = self._spell
            log.info("device %s answers again after %d failed poll(s) over %.1fs", self.where, polls,
                     time.monotonic() - start)
            self._spell = None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _bytes(query: bytes | str) -> bytes:
    return query.encode() if isinstance(query, str) else query


def _why(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no reply within {timeout:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    return f"{type(exc).__name__}: {exc}"
