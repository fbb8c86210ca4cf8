"""The test kit's checks for stream regimes (re-exported by scraper.testing), run without a broker.

Messages go through the same Ledger.write as a running section, into a SQLite target in pytest's
`tmp_path`, as numbered messages of one partition:
- `test_a_replay_adds_nothing`: every message sent a second time writes no row, each counted replayed;
- `test_a_restart_gives_the_same_rows`: batches of random sizes, some lost before their commit (a kill)
  and read again from the stored position, end in the rows of one uninterrupted pass;
- `test_rows_fit_the_tables`: rows() names only declared tables and columns, and the key's columns.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, ClassVar, Mapping

import sqlalchemy as sa

from .ledger import Item, Ledger
from .regime import StreamRegime

TOPIC = "kit"


def _items(regime: type[StreamRegime], messages: list[Mapping[str, Any]], first_offset: int = 0) -> list[Item]:
    out = []
    for n, message in enumerate(messages):
        rows = {name: list(r) for name, r in regime.rows(message).items()}
        out.append(Item(TOPIC, 0, first_offset + n, None, regime.identity(message), rows))
    return out


def _ledger(path: Path, regime: type[StreamRegime]) -> Ledger:
    ledger = Ledger(sa.create_engine(f"sqlite:///{path}"), "kit", regime)
    ledger.create()
    return ledger


def _rows(ledger: Ledger) -> dict[str, list[tuple]]:
    with ledger.engine.connect() as conn:
        return {t.name: sorted(tuple(r) for r in conn.execute(sa.select(t))) for t in ledger.tables}


class StreamRegimeChecks:
    """Subclass in your tests: set `regime` and define `messages()` (decoded messages, as dicts)."""

    regime: ClassVar[type[StreamRegime]]
    seed: ClassVar[int] = 2026

    def messages(self) -> list[Mapping[str, Any]]:
        raise NotImplementedError("return decoded messages, as the stream delivers them")

    def test_a_replay_adds_nothing(self, tmp_path):
        messages = self.messages()
        ledger = _ledger(tmp_path / "replay.db", self.regime)
        first = ledger.write(_items(self.regime, messages))
        once = _rows(ledger)
        again = ledger.write(_items(self.regime, messages, len(messages)))
        assert first.written == len({self.regime.identity(m) for m in messages}), "messages with one key"
        assert (again.written, again.replayed) == (0, len(messages))
        assert _rows(ledger) == once

    def test_a_restart_gives_the_same_rows(self, tmp_path):
        messages = self.messages()
        whole = _ledger(tmp_path / "whole.db", self.regime)
        whole.write(_items(self.regime, messages))
        restarted = _ledger(tmp_path / "restarted.db", self.regime)
        rng, kills = random.Random(self.seed), 0
        while True:
            at = restarted.stored_positions().get((TOPIC, 0), 0)  # where a restart seeks
            if at >= len(messages):
                break
            batch = _items(self.regime, messages[at:at + rng.randint(1, 7)], at)
            if rng.random() < 0.3:
                kills += 1  # killed before the commit: nothing of the batch is in the target
                continue
            restarted.write(batch)
        assert kills, "too few messages to kill anywhere: give the check more messages"
        assert _rows(restarted) == _rows(whole)

    def test_rows_fit_the_tables(self, tmp_path):
        tables = {t.name: t for t in self.regime.tables(sa.MetaData())}
        first = next(iter(tables.values()))
        assert all(k in first.c for k in self.regime.key), f"{first.name} lacks a key column of {self.regime.key}"
        for message in self.messages():
            for name, rows in self.regime.rows(message).items():
                assert name in tables, f"rows() names {name}, not a table of the regime"
                for row in rows:
                    extra = set(row) - set(tables[name].c.keys())
                    assert not extra, f"rows() gives {name} columns it does not have: {sorted(extra)}"
