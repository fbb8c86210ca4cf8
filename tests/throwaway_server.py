"""What the throwaway MariaDB and PostgreSQL servers of the tests share: a private base directory that
outlives ``stop()`` (tests simulate outages with stop/start), a ``with`` block that starts the server
and deletes everything at the end, and an atexit last resort if a run dies before that."""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType


class ThrowawayServer:
    """Subclasses start the server in ``start()`` (setting ``self._proc``, then ``_await_start()``),
    say how it is asked to shut down (``_shut_down``) and, if it does not within the timeout, how it is
    killed (``_kill``); ``program``, ``not_ready`` (what connecting raises while it starts), ``_log``
    and ``_listening`` name it in a start-up failure."""

    program = "server"
    not_ready: type[Exception] = OSError

    def __init__(self, prefix: str, startup_timeout: float) -> None:
        self.startup_timeout = startup_timeout
        self.basedir = tempfile.mkdtemp(prefix=prefix)
        self._proc: subprocess.Popen[bytes] | None = None
        self._initialized = False
        atexit.register(self.close)

    def start(self) -> None:
        raise NotImplementedError

    def _log(self) -> str:
        raise NotImplementedError

    def _listening(self) -> str:
        raise NotImplementedError

    def connect(self):
        raise NotImplementedError

    def _await_start(self) -> None:
        """Block until a connection succeeds; a server that dies or stays deaf is stopped and its log
        tail raised, so a CI failure says why."""
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.program} exited with {self._proc.returncode} during startup; "
                                   f"{self._log()} ends with:\n{self._log_tail()}")
            try:
                self.connect().close()
                return
            except self.not_ready as exc:
                last_error = exc
                time.sleep(0.1)
        raise RuntimeError(f"{self.program} not accepting connections {self._listening()} after "
                           f"{self.startup_timeout:.0f}s (last error: {last_error}); {self._log()} ends with:\n"
                           f"{self._log_tail()}")

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(Path(self._log()).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"

    def _shut_down(self, proc: subprocess.Popen[bytes]) -> None:
        raise NotImplementedError

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.kill()

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def stop(self, timeout: float = 30.0) -> None:
        """Shut down like an outage would, keeping the data directory for ``start()``."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        self._shut_down(proc)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            proc.wait()

    def close(self) -> None:
        """Stop and delete everything; safe to call repeatedly (atexit does too)."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.basedir, ignore_errors=True)
            atexit.unregister(self.close)

    def freeze(self) -> None:
        """SIGSTOP the server and its children (its own session): it refuses nothing and answers nothing,
        like a hung host or a network black hole. Always pair with ``thaw()`` in a ``finally``."""
        assert self._proc is not None
        self._signal_all(signal.SIGSTOP)

    def thaw(self) -> None:
        if self._proc is not None:
            self._signal_all(signal.SIGCONT)

    def _signal_all(self, signum: int) -> None:
        """Signal every process of the server (started in a session of its own: its process group)."""
        assert self._proc is not None
        os.killpg(self._proc.pid, signum)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None
