"""The test kit's stream checks: passing on the ZTF regime, failing on a regime that is not replay-safe."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime

from fakers.alerts import Night
from scraper import commands
from scraper.testing import StreamRegimeChecks
from stream_support import write_cfg


def ztf_messages(tmp_path, n: int = 40) -> list[dict]:
    """A small fake night, decoded: what the stream hands rows()."""
    class _B:
        address = "127.0.0.1:1"
    cfg = commands.settings(str(write_cfg(tmp_path / "kit.cfg", _B, "sqlite:///x.db", alerts=n, replay_at="")),
                            "faker")
    return [alert for _t, alert, _v in Night(cfg).alerts(datetime(2020, 12, 27))]


class TestZtf(StreamRegimeChecks):
    from regimes.ztf import Ztf as regime

    def messages(self):
        import tempfile
        from pathlib import Path

        return ztf_messages(Path(tempfile.mkdtemp()))


def test_the_kit_catches_rows_that_differ_from_run_to_run(tmp_path):
    (tmp_path / "clocked.py").write_text(textwrap.dedent('''
        import itertools
        import sqlalchemy as sa
        from regimes.ztf import Ztf

        calls = itertools.count()

        class Clocked(Ztf):
            """Stores how often rows() ran: a restart re-reads messages, so its rows differ."""
            @classmethod
            def tables(cls, metadata):
                alert, prv = super().tables(metadata)
                alert.append_column(sa.Column("seen", sa.Integer))
                return [alert, prv]

            @classmethod
            def rows(cls, message):
                out = super().rows(message)
                out["ztf_alert"][0]["seen"] = next(calls)
                return out
    '''))
    (tmp_path / "test_clocked.py").write_text(textwrap.dedent('''
        from clocked import Clocked
        from scraper.testing import StreamRegimeChecks
        from test_stream_kit import ztf_messages

        class TestClocked(StreamRegimeChecks):
            regime = Clocked
            def messages(self):
                import tempfile, pathlib
                return ztf_messages(pathlib.Path(tempfile.mkdtemp()))
    '''))
    import os
    here = os.path.dirname(__file__)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), here, os.path.dirname(here)])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_clocked.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout
    assert "FAILED test_clocked.py::TestClocked::test_a_restart_gives_the_same_rows" in proc.stdout
    assert "1 failed, 2 passed" in proc.stdout, proc.stdout[-2000:]  # a replay still writes nothing
