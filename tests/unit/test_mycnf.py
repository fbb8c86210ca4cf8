"""`source`/`target` may name a ~/.my.cnf section so passwords never sit in scraper.cfg."""
from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from scraper.modes import settings as load
from scraper.db import resolve_url, url_from_mycnf
from scraper.errors import ConfigError

MYCNF = """\
!includedir /etc/mysql/conf.d/
[client]
user = nobody

[offline_db]
host = dybdb1.ihep.ac.cn
user = dayabay
password = "s3cret:@/pw"
database = offline_db
port = 3307

[tmp_offline_db]
socket = /run/mysqld/mysqld.sock
user = 'scraper'
database = tmp_offline_db
"""


@pytest.fixture
def mycnf(tmp_path, monkeypatch):
    path = tmp_path / "my.cnf"
    path.write_text(MYCNF)
    monkeypatch.setenv("SCRAPER_MYCNF", str(path))
    return path


def test_tcp_section_becomes_a_pymysql_url_with_every_field(mycnf):
    url = url_from_mycnf("offline_db")
    assert (url.drivername, url.host, url.port, url.username, url.database) == \
        ("mysql+pymysql", "dybdb1.ihep.ac.cn", 3307, "dayabay", "offline_db")
    assert url.password == "s3cret:@/pw"
    assert make_url(url.render_as_string(hide_password=False)).password == "s3cret:@/pw"


def test_socket_section_connects_through_the_socket(mycnf):
    url = url_from_mycnf("tmp_offline_db")
    assert url.host == "localhost" and url.port is None and url.password is None
    assert url.username == "scraper" and url.database == "tmp_offline_db"
    assert url.query["unix_socket"] == "/run/mysqld/mysqld.sock"


def test_password_is_hidden_when_shown(mycnf):
    shown = url_from_mycnf("offline_db").render_as_string(hide_password=True)
    assert "s3cret" not in shown


@pytest.mark.parametrize("content, words", [
    (None, "file missing"),
    (MYCNF, "nor a section of"),
    ("[nosuch\nuser = x\n", "cannot read"),
    ("user = x\n", "cannot read"),
    ("[nosuch]\nport = three\n", 'port "three" is not a number'),
])
def test_my_cnf_problems_are_config_errors_on_the_key(tmp_path, monkeypatch, content, words):
    path = tmp_path / "my.cnf"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("SCRAPER_MYCNF", str(path))
    cfg_path = tmp_path / "scraper.cfg"
    cfg_path.write_text("[s]\nregime = regimes.adtemp:AdTemp\nsource = nosuch\n")
    cfg = load(str(cfg_path), "s")
    with pytest.raises(ConfigError) as exc:
        resolve_url(cfg, "source")
    assert (exc.value.section, exc.value.key) == ("s", "source")
    assert words in str(exc.value) and str(path) in str(exc.value) and "\n" not in str(exc.value)
