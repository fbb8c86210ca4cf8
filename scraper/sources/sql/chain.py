"""MariaDB: the skip search of many propagations in one statement, chained on the server.

Each skip search is one statement per propagation, and on MariaDB a statement's own cost (planning,
the round trip, PyMySQL's parsing) is several times the rows it looks at (bench/). A compound
statement (`BEGIN NOT ATOMIC ... END`) runs the very same search in a loop of `SELECT ... INTO` local
variables instead, each candidate it finds becoming sv[0] of the next search, as it will in Python
when the candidate proceeds (sv[0] := sv[-1], tcursor := its time + interval), and returns the rows
found in one result. It reads only: local variables, no table written, no privilege beyond SELECT.

The chain rests on an assumption Python checks before using each row: that the sample it is asked for
is exactly the search the chain made next — same sv[0], cursor, maxage limit and watermark. A
candidate Python calls unchanged (the SQL form errs towards candidates on FLOAT columns), a redo, a
late check that moved the watermark: the next search differs, the rest of the chain is dropped and a
new one made. So the rows Python samples are those one search per propagation finds.
"""
from __future__ import annotations

from collections import deque
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from scraper.db import PreparedQuery

# local variable types by the Python type a column reads as; another type: no chain
_SQL_TYPES = {int: "BIGINT", float: "DOUBLE", Decimal: "DECIMAL(65,30)", str: "LONGTEXT",
              datetime: "DATETIME(6)", date: "DATE", bool: "BOOLEAN"}
_SEARCH_KEYS = ("_lo", "_i", "_limit")  # moved by each candidate; _wm and the constants stay
_SINCE = (10, 2, 3)  # MariaDB: BEGIN NOT ATOMIC outside a stored program (10.1.1), EXECUTE IMMEDIATE (10.2.3)


def _sql_type(col: sa.ColumnElement) -> str | None:
    try:
        return _SQL_TYPES.get(col.type.python_type)
    except NotImplementedError:
        return None


class Chain:
    """Up to `length` propagations' searches per statement, queued; `take(params)` the next row."""

    def __init__(self, search: PreparedQuery, sql: str, first_keys: list[str],
                 derive: tuple[int, int, list[int], timedelta, timedelta]):
        self.search, self._first_keys = search, first_keys
        self._derive = derive  # (id, date_time and compared columns' positions in a row, interval, maxage)
        self._statement = search.with_sql(sql)
        self._queue: deque[tuple[tuple, tuple]] = deque()  # (the search it answers, its row)
        self.statements = 0  # chains run
        self.broken = 0  # chains dropped before their end: the next search was not the one they made

    @classmethod
    def build(cls, engine: sa.Engine, search: PreparedQuery, query: sa.Select, first: Any,
              interval: timedelta, maxage: timedelta, length: int) -> "Chain | None":
        """None where the server cannot run compound statements with EXECUTE IMMEDIATE (MySQL, MariaDB
        before 10.2.3), a column's type has no local variable type here, or the rule compares text
        (a local variable's collation need not be the column's)."""
        dialect = engine.dialect
        if (length < 2 or not getattr(dialect, "is_mariadb", False)
                or tuple(getattr(dialect, "server_version_info", None) or ()) < _SINCE):
            return None
        columns = list(query.selected_columns)
        types = [_sql_type(c) for c in columns]
        if None in types:
            return None
        names = [c.name for c in columns]
        # sv[0]'s columns the rule's SQL compares with: (position in a row, parameter)
        used = [(k, first[name].key) for k, name in enumerate(names) if f"%({first[name].key})s" in search.sql]
        if any(types[k] == "LONGTEXT" for k, _key in used):
            return None
        first_keys = [key for _k, key in used]
        body = search.sql
        for key in (*_SEARCH_KEYS, *first_keys):
            body = body.replace(f"%({key})s", f"v{key}")
        at_id, at_dt = names.index("id"), names.index("date_time")
        us = timedelta(microseconds=1)
        declare = ["DECLARE v_lo DATETIME(6) DEFAULT %(_lo)s;", "DECLARE v_limit DATETIME(6) DEFAULT %(_limit)s;",
                   "DECLARE v_i BIGINT DEFAULT %(_i)s;"]
        declare += [f"DECLARE v{key} {types[k]} DEFAULT %({key})s;" for k, key in used]
        declare += [f"DECLARE n_{k} {typ};" for k, typ in enumerate(types)]
        moved = [f"SET v{key} = n_{k};" for k, key in used]
        rows = str(query.compile(dialect=dialect))
        id_col = str(query.selected_columns["id"].compile(dialect=dialect))
        final = f"{rows} WHERE {id_col} IN (".replace("\\", "\\\\").replace("'", "''")
        sql = " ".join([
            "BEGIN NOT ATOMIC", *declare,
            "DECLARE v_n INT DEFAULT 0; DECLARE v_ids LONGTEXT DEFAULT ''; DECLARE v_found INT DEFAULT 1;",
            "DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = 0;",
            f"chain: WHILE v_n < {int(length)} DO",
            f"{body} INTO {', '.join(f'n_{k}' for k in range(len(types)))};",
            "IF v_found = 0 THEN LEAVE chain; END IF;",
            f"SET v_ids = CONCAT(v_ids, n_{at_id}, ','); SET v_n = v_n + 1; SET v_i = n_{at_id};",
            f"SET v_lo = n_{at_dt} + INTERVAL {interval // us} MICROSECOND;",
            f"SET v_limit = n_{at_dt} + INTERVAL {maxage // us} MICROSECOND;", *moved,
            "END WHILE;",
            # the ids end with a comma: NULL closes the list (it matches no row, unlike any number)
            f"IF v_n > 0 THEN EXECUTE IMMEDIATE CONCAT('{final}', v_ids, 'NULL) ORDER BY {id_col}'); END IF;",
            "END"])
        return cls(search, sql, first_keys, (at_id, at_dt, [k for k, _key in used], interval, maxage))

    def _key(self, params: dict[str, Any]) -> tuple:
        return (params["_wm"], *(params[k] for k in _SEARCH_KEYS), *(params[k] for k in self._first_keys))

    def take(self, params: dict[str, Any], execute: Any) -> tuple | None:
        """The row the seen-rows search finds for `params`: queued if the chain made that search,
        else from a new chain run by `execute(statement, params)`; None when there is no candidate."""
        key = self._key(params)
        if self._queue:
            if self._queue[0][0] == key:
                return self._queue.popleft()[1]
            self.broken += 1
            self._queue.clear()
        self.statements += 1
        rows = execute(self._statement, params)
        if not rows:
            return None
        at_id, at_dt, compared, interval, maxage = self._derive
        keys = [key]
        for row in rows[:-1]:  # the search each row's candidate makes next, if it proceeds
            keys.append((params["_wm"], row[at_dt] + interval, row[at_id], row[at_dt] + maxage,
                         *(row[k] for k in compared)))
        self._queue.extend(zip(keys, rows))
        return self._queue.popleft()[1]

    def forget(self) -> None:
        self._queue.clear()

    def __repr__(self) -> str:
        return f"Chain(statements={self.statements}, broken={self.broken})"

    def close(self) -> None:
        self._queue.clear()
        self._statement.close()
