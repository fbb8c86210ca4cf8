# Two commands on a fresh machine (see README):  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: demo test install install-test mariadb bench bench-look clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e .
	touch $@

install: $(STAMP)

## demo: install into .venv, fake a day of DCS data (with duplicates, gaps, late rows, bad Quality) into
## var/fake_dcs.db with the fakers of the example regimes, scrape it into var/tmp_offline_db.db
demo: install
	$(BIN)/scr.py -s adtemp_faker
	$(BIN)/scr.py -s pmthv_faker
	$(BIN)/scr.py -s adlid_faker
	$(BIN)/scr.py -s adtemp_scraper --catchup --ALLOW_DROP_CREATE_TABLE --DROP_TARGET_TABLES --loglevel WARNING
	$(BIN)/scr.py -s pmthv_scraper --catchup --ALLOW_DROP_CREATE_TABLE --DROP_TARGET_TABLES --loglevel WARNING
	$(BIN)/scr.py -s adlid_scraper --catchup --ALLOW_DROP_CREATE_TABLE --DROP_TARGET_TABLES --loglevel WARNING

$(TSTAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

## mariadb: the throwaway test server needs mariadbd; install it when missing and we are root
mariadb:
	@if command -v mariadbd >/dev/null 2>&1 || test -x /usr/sbin/mariadbd; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing mariadb-server (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null; \
	else echo "mariadbd not found and not root: MariaDB tests will be skipped (or fail under CI=true)"; fi

install-test: $(TSTAMP) mariadb

## test: install test needs (incl. mariadb-server) and run the whole suite, SQLite and MariaDB
test: install-test
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m bench

## bench-look: scr.py report over a faked day, 9 combinations, vs 9 real scrapes (var/bench_look.json)
bench-look: install
	$(BIN)/python -m bench.look

clean:
	rm -rf $(VENV) var/*.db var/*.db-* *.egg-info
