# Two commands on a fresh machine (see README):  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test
DSTAMP := $(VENV)/.installed-demo

.PHONY: demo test install install-test bytecode mariadb postgresql bench bench-look clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e .
	touch $@

install: $(STAMP)

## demo: install into .venv, fake a day of DCS data (with duplicates, gaps, late rows, bad Quality) into
## var/fake_dcs.db with the fakers of the example regimes, scrape it into var/tmp_offline_db.db,
## bridge it into var/grafana/live.db for Grafana (a fresh file: the fakers rewrote the source), and
## fake 20 minutes of a 10 Hz monitor into var/cbpm3.db and decimate all but its newest 10 minutes;
## load 20 fake processing result files into var/lab.db (mode logger), log an emulated cryostat there
## for a few seconds through a target outage that is spooled and drained; then start a throwaway
## Kafka-protocol broker, fake a night of ZTF-like alerts with the producer's 10:00 replay, ingest it
## exactly once into var/ztf_alerts.db, reconcile the night, and stop the broker
demo: install $(DSTAMP) bytecode
	$(BIN)/scr.py -s adtemp_faker
	$(BIN)/scr.py -s pmthv_faker
	$(BIN)/scr.py -s adlid_faker
	$(BIN)/scr.py -s adtemp_scraper --catchup --ALLOW_DROP_CREATE_TABLE --DROP_TARGET_TABLES --loglevel WARNING
	$(BIN)/scr.py -s pmthv_scraper --catchup --ALLOW_DROP_CREATE_TABLE --DROP_TARGET_TABLES --loglevel WARNING
	$(BIN)/scr.py -s adlid_scraper --catchup --ALLOW_DROP_CREATE_TABLE --DROP_TARGET_TABLES --loglevel WARNING
	rm -f var/grafana/live.db var/grafana/live.db-wal var/grafana/live.db-shm
	$(BIN)/scr.py -s adtemp_bridge --catchup --loglevel WARNING
	$(BIN)/scr.py -s pmthv_bridge --catchup --loglevel WARNING
	$(BIN)/scr.py -s adlid_bridge --catchup --loglevel WARNING
	rm -f var/cbpm3.db var/cbpm3.db-wal var/cbpm3.db-shm
	$(BIN)/scr.py -s cbpm3_faker
	$(BIN)/scr.py -s cbpm3_decimator --keep 10m --dry-run --loglevel WARNING
	$(BIN)/scr.py -s cbpm3_decimator --keep 10m --catchup --ALLOW_DROP_CREATE_TABLE --loglevel WARNING
	rm -f var/lab.db var/lab.db-wal var/lab.db-shm
	$(BIN)/scr.py -s processing_faker
	$(BIN)/scr.py -s processing_loader --settle 0s --catchup --loglevel WARNING
	$(BIN)/python -m fakers.cryo_demo
	rm -f var/ztf_alerts.db var/ztf_alerts.db-wal var/ztf_alerts.db-shm
	$(BIN)/python -m scraper.modes.stream.broker start var/broker.pid > var/broker.addr
	B=$$(cat var/broker.addr); \
	$(BIN)/scr.py -s ztf_faker --brokers $$B --loglevel WARNING && \
	$(BIN)/scr.py -s ztf_stream --brokers $$B --catchup --ALLOW_DROP_CREATE_TABLE --loglevel WARNING && \
	$(BIN)/scr.py reconcile -s ztf_stream --day 2020-12-27 --brokers $$B; s=$$?; \
	$(BIN)/python -m scraper.modes.stream.broker stop var/broker.pid; rm -f var/broker.addr; exit $$s

$(DSTAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[demo]'
	touch $@

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

## postgresql: the throwaway test server needs initdb/postgres; install them when missing and we are root
postgresql:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing postgresql (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else echo "initdb not found and not root: PostgreSQL tests will be skipped (or fail under CI=true)"; fi

install-test: $(TSTAMP) mariadb postgresql

## bytecode: compile the project's modules once, so that every scr.py process (the demo runs dozens,
## the suite hundreds) loads them instead of compiling them again: ~0.13 s CPU a start-up where the
## environment sets PYTHONDONTWRITEBYTECODE (compileall writes the cache all the same; it recompiles
## only what changed)
bytecode:
	$(BIN)/python -m compileall -q scraper regimes fakers tests bench > /dev/null

## test: install test needs (incl. mariadb-server, postgresql) and run the whole suite on SQLite,
## MariaDB and PostgreSQL. Tests spend most of their time waiting for child processes and servers, so
## more workers than cores pay (each worker starts its own throwaway servers; a module sharing one costly
## fixture stays on one worker: --dist loadgroup). On 2 cores, 6 workers keep both busy while tests wait
## (538 s against 586 s with 4, measured side by side). TEST_WORKERS=0 runs serially
TEST_WORKERS ?= 6
test: install-test bytecode
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

bench: install
	$(BIN)/python -m bench
	$(BIN)/python -m bench.bridge
	$(BIN)/python -m bench.decimate
	$(BIN)/python -m bench.logger

## bench-look: scr.py report over a faked day, 9 combinations, vs 9 real scrapes (var/bench_look.json)
bench-look: install
	$(BIN)/python -m bench.look

clean:
	rm -rf $(VENV) var/*.db var/*.db-* var/grafana *.egg-info
