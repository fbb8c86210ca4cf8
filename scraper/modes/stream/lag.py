"""The lag of a stream section's partitions: one row per (section, topic, partition), kept by its owner.

Several processes of one section share its partitions through the consumer group, and each knows only
the lag of the partitions it holds. A gauge in `scraper_metrics` is one value per section and name, so
two processes writing their own `behind_msgs` would overwrite each other's. Here each process upserts
the rows of the partitions it holds (with its `member`, host:pid) every `metrics_every`; a partition
taken over after a rebalance gets its new owner's row in place. The rows together are the group's lag:
`status` shows them per partition and summed, and every process writes that same group total into
`scraper_metrics` (`behind_msgs`, `behind_s`), so the gauges agree whoever wrote last.

A row is current while it is as fresh as the section's newest row, within `STALE_PERIODS` metrics
periods: an older one is a partition nobody reports any more (an earlier night's topic, drained and
left). A stopped section keeps its last picture.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from scraper.db import DateTime
from scraper.runtime.lease import me

LAG = "stream_lag"
STALE_PERIODS = 3


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    member: str
    behind: int
    behind_s: float
    updated: datetime


def lag_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        LAG, metadata,
        sa.Column("section", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(249), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("member", sa.String(128), nullable=False),
        sa.Column("behind", sa.BigInteger, nullable=False),
        sa.Column("behind_s", sa.Float, nullable=False),
        sa.Column("updated", DateTime, nullable=False),
        mysql_engine="InnoDB",
    )


class LagBoard:
    def __init__(self, engine: sa.Engine, section: str, every: timedelta, member: str | None = None):
        self.engine, self.section, self.every = engine, section, every
        self.table = lag_table(sa.MetaData())
        self.member = member or me()  # host:pid, as leases name their holder

    def ensure(self) -> None:
        """Ours, like scraper_metrics: created on demand, also in a target made before it existed."""
        with self.engine.begin() as conn:
            self.table.create(conn, checkfirst=True)

    def publish(self, mine: dict[tuple[str, int], tuple[int, float]]) -> None:
        """This process's partitions: (topic, partition) -> (messages behind, seconds behind)."""
        if not mine:
            return
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        c = self.table.c
        for attempt in range(2):  # a new owner and the old one inserting the same row at once
            try:
                with self.engine.begin() as conn:
                    for (topic, part), (behind, secs) in sorted(mine.items()):
                        values = {"member": self.member, "behind": behind, "behind_s": secs, "updated": now}
                        where = sa.and_(c.section == self.section, c.topic == topic, c.partition == part)
                        if not conn.execute(sa.update(self.table).where(where).values(**values)).rowcount:
                            conn.execute(sa.insert(self.table).values(section=self.section, topic=topic,
                                                                      partition=part, **values))
                return
            except sa.exc.IntegrityError:
                if attempt:
                    raise

    def current(self) -> list[PartitionLag]:
        """The group's picture: every row as fresh as the newest, within STALE_PERIODS periods."""
        if not sa.inspect(self.engine).has_table(LAG):
            return []
        c = self.table.c
        with self.engine.connect() as conn:
            rows = [PartitionLag(r.topic, r.partition, r.member, r.behind, r.behind_s, r.updated)
                    for r in conn.execute(sa.select(self.table).where(c.section == self.section))]
        if not rows:
            return []
        newest = max(r.updated for r in rows)
        keep = newest - STALE_PERIODS * max(self.every, timedelta(seconds=1))
        return sorted((r for r in rows if r.updated >= keep), key=lambda r: (r.topic, r.partition))


def totals(rows: list[PartitionLag]) -> tuple[int, float]:
    """The group's messages behind and its worst seconds behind."""
    return sum(r.behind for r in rows), max((r.behind_s for r in rows), default=0.0)
