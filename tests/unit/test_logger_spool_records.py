"""The spool checks every record once per process: a record that fails its checksum is never sent,
whether open() found it or another writer appended it after open(); what this process appended is sent."""
from __future__ import annotations

import logging

from scraper.modes.logger.spool import Spool, encode


def record(n: int) -> dict:
    return {"source": "t", "rows": {"mmr3": [[1_700_000_000 + n, 1, float(n), 0.5]]}, "readings": 1}


def sent(spool: Spool) -> list[float]:
    return [row[2] for chunk in spool.chunks(1000) for row in chunk.rows["mmr3"]]


def test_a_corrupt_record_found_at_open_is_skipped_and_the_rest_drained_in_order(tmp_path, caplog):
    path = tmp_path / "s.spool"
    lines = [encode(record(n)) for n in range(4)]
    lines[1] = lines[1].replace(b"1.0,0.5", b"9.0,0.5")  # a flipped byte: its checksum no longer matches
    path.write_bytes(b"".join(lines))
    spool = Spool(path, 100)
    with caplog.at_level(logging.WARNING, "scraper.logger"):
        spool.open()
    assert spool.corrupt == 1 and spool.records == 3 and "fails its checksum" in caplog.text
    spool.append(record(4))
    assert sent(spool) == [0.0, 2.0, 3.0, 4.0]


def test_a_bad_record_appended_by_another_writer_after_open_is_not_sent(tmp_path):
    path = tmp_path / "s.spool"
    spool = Spool(path, 100)
    spool.open()
    spool.append(record(0))
    with open(path, "ab") as f:  # another process's append, cut and mangled
        f.write(encode(record(1)).replace(b"1.0,0.5", b"7.0,0.5"))
    other = encode(record(2))
    with open(path, "ab") as f:  # a good one from the other writer
        f.write(other)
    spool.append(record(3))  # after the others: not trusted blindly, checked like them
    assert sent(spool) == [0.0, 2.0, 3.0]
