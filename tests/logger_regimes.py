"""Logger regimes the tests name in their sections (importable as `logger_regimes:Class`)."""
from __future__ import annotations

from regimes.ricochet import Mmr3, Mmr3Bridge


class TextEveryThirdBridge(Mmr3Bridge):
    """Every third reply has a reading whose T arrives as text: a regime bug the batch check catches."""

    def __init__(self) -> None:
        self.n = 0

    def parse(self, reply: bytes):
        self.n += 1
        messages = super().parse(reply)
        if self.n % 3 == 0:
            messages[1]["T"] = str(messages[1]["T"])
        return messages


class TextEveryThird(Mmr3):
    sources = [TextEveryThirdBridge()]
