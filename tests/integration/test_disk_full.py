"""A full disk under the target is an outage, not an end: the scraper logs it once, waits, and when
space is freed writes on from where it was, the target ending equal to an uninterrupted run's.

The disk really fills: the target's files live on a small tmpfs mounted for the test (the SQLite
file; MariaDB's database directory, so InnoDB cannot extend the table's file and answers 1114 "table
is full"; a PostgreSQL tablespace, "could not extend file"), and a filler file takes the rest of the
space. Mounting needs root (CAP_SYS_ADMIN): where it is refused the test is skipped with that reason.
"""
from __future__ import annotations

import os
import pwd
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from factories import create_adtemp, insert
from processes import newest, running, spawn, terminate, wait_for
from support import Databases, scrape, target_rows
from test_faults import ADTEMP, adtemp_rows, assert_one_outage_logged, log_lines


@contextmanager
def small_disk(where: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of `size` mounted on `where` (created if missing), unmounted at the end."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root/CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk` with one file; removing it frees the disk again."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (65536, 1):  # then the last few bytes
            try:
                while f.write(b"\0" * chunk):
                    pass
            except OSError:
                pass
    return filler


@contextmanager
def target_on(disk: Path, backend: str, request, tmp_path: Path) -> Iterator[tuple[Databases, object]]:
    """Source and target of `backend`, the target's table files on `disk` (mounted or not yet)."""
    if backend == "sqlite":
        dbs = request.getfixturevalue("sqlite_dbs")
        with small_disk(disk):
            yield Databases("sqlite", tmp_path, dbs.source_url, f"sqlite:///{disk / 'target.db'}"), None
    elif backend == "mariadb":  # the target database's own directory in the datadir
        server, dbs = request.getfixturevalue("own_server")
        where = Path(server.datadir) / sa.make_url(dbs.target_url).database
        kept = {p.name: p.read_bytes() for p in where.iterdir()}  # db.opt, hidden by the mount
        with small_disk(where):
            for name, data in kept.items():
                (where / name).write_bytes(data)
            yield dbs, where
            server.stop()  # before its database directory is unmounted
    else:  # a tablespace on the small disk, the target database's default
        server = request.getfixturevalue("postgresql_server")
        names = [f"full_src_{tmp_path.name[-20:]}", f"full_tgt_{tmp_path.name[-20:]}"]
        for name in names:
            server.create_database(name)
        disk = Path(server.basedir) / names[1]  # the server's user can reach it (tmp_path is root's)
        with small_disk(disk):
            user = pwd.getpwnam("postgres")
            os.chown(disk, user.pw_uid, user.pw_gid)
            with server.connect() as admin:
                admin.execute(f"CREATE TABLESPACE small LOCATION '{disk}'")
                admin.execute(f'ALTER DATABASE "{names[1]}" SET default_tablespace = small')
            try:
                yield Databases("postgresql", tmp_path, server.url(names[0]), server.url(names[1])), disk
            finally:
                for name in names:
                    server.drop_database(name)
                with server.connect() as admin:
                    admin.execute("DROP TABLESPACE small")


@pytest.mark.parametrize("backend", ["sqlite", "mariadb", "postgresql"])
def test_target_disk_full_mid_run_is_waited_out_and_nothing_is_lost(backend, request, tmp_path):
    with target_on(tmp_path / "small", backend, request, tmp_path) as (dbs, disk):
        disk = disk or tmp_path / "small"
        src, tgt = dbs.engine("source"), dbs.engine("target")
        rows = adtemp_rows(4000)
        table = create_adtemp(src)
        insert(src, table, rows[:300])
        keys = {**ADTEMP, "loglevel": "WARNING"}
        cfg = dbs.write_cfg({"s": keys})
        log = cfg.parent / "s.log"
        proc = spawn(cfg, "s", "--ALLOW_DROP_CREATE_TABLE", log=log)
        with running(proc):
            wait_for(lambda: (newest(tgt, "DcsAdTempVld", "TIMEEND") or rows[0]["date_time"])
                     >= rows[290]["date_time"], 60, "the first part")
            filler = fill(disk)
            insert(src, table, rows[300:])
            wait_for(lambda: any("target DB down:" in line for line in log_lines(log)), 60,
                     "the full disk to be noticed")
            assert proc.poll() is None, log.read_text()[-3000:]
            down = next(line for line in log_lines(log) if "target DB down:" in line)
            assert "full" in down or "No space left" in down, down
            filler.unlink()
            wait_for(lambda: any("target DB back up after" in line for line in log_lines(log)), 60,
                     "the writes to resume")
            scrape(dbs.settings(**keys, kls="Reference"))
            expected = target_rows(tgt, "Reference")
            wait_for(lambda: target_rows(tgt, "DcsAdTemp") == expected, 60, "the scraper to catch up")
            status, _, _ = terminate(proc)
        dbs.close()
        assert status == 0, log.read_text()[-3000:]
        assert_one_outage_logged(log)
