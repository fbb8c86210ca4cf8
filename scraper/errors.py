"""Errors an operator can fix: they end a run with one line and exit status 2, never a traceback."""
from __future__ import annotations


class OperatorError(Exception):
    """A mistake in configuration, connection or permissions: reported as one line, exit 2."""


class ConfigError(OperatorError):
    """Names the file, section and key at fault so the operator can go straight to the line."""

    def __init__(self, path: str, section: str | None, key: str | None, message: str):
        self.path, self.section, self.key, self.message = path, section, key, message
        where = path
        if section:
            where += f" [{section}]"
        if key:
            where += f" {key}"
        super().__init__(f"{where}: {message}")


class RegimeError(Exception):
    """A regime's own code failed on an entry (a bug, or data it did not expect): neither an outage
    nor an operator mistake. One line naming regime, method, source, entry and the exception; exit
    status 3, which the generated supervisord programs treat as expected (no restart loop: the same
    entry would fail again at every restart)."""

    exit_status = 3
