"""Letting the database skip unchanged entries: one statement per propagation instead of every entry in Python.

The sampling rules send every entry through `changed(sv)`. Between two propagations sv[0] stays put, so the next
PROCEED is simply the first entry e beyond sv[-1] (date_time >= tcursor) for which changed(sv[0], e)
holds or e.t - sv[0].t > maxage. When the regime declares its change rule (`change = Moved(...)`,
scraper.rules), the rule's SQL form lets the database find that entry itself: catching up over a
million entries costs one statement per propagation rather than a million rows through Python.

The SQL form comes from the same rule as the Python test, so it cannot miss a change: it is exact, or
(single-precision columns) errs towards candidates, which Python judges as it judges every entry it
sees — one it calls unchanged is sampled as such and the search goes on from it. A cheap assertion
remains: with no candidate the search returns the latest entry, which must then be unchanged. The
entries skipped are counted (on a thread, for a server), so `entries_read`, the summary and the metrics report
what sample-by-sample running does.

Two things make the common search a single cheap SELECT:

* it looks only at the rows the last late check saw (id <= watermark). Rows committed since are left
  to the next check, made with the search whenever the seen rows hold no candidate; it counts those
  behind the cursor as late, as a batch query does (reader.py), so none is both read and late;
* it walks the seen rows in id order, the table's own: where ids follow time, as they mostly do in
  DCS tables, the first candidate by id is the first by time. Where they do not, it may not be: the
  counting query checks each such stretch before anything resting on it is committed, Python judges
  the entries it finds out of id order (a row committed late, say: harmless unless a candidate), and
  if one is a candidate the check says so (`settle()` returns what it found): the loop drops what is
  not committed, resumes from the target as a restart would, and this source is searched in
  (date_time, id) order from then on.

On MariaDB the seen-rows searches of many propagations run as one statement, chained on the server
(chain.py); Python checks before using each entry that it answers the search asked for.

It is used where skipping changes nothing observable — `offset = 0`, `maxiter = 0`,
`skip_in_database = True` — whatever the log level, and while stretches between propagations are long
enough (MIN_STRETCH entries, measured in Python first) for a query per propagation to beat reading
batches of entries into Python.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable

import sqlalchemy as sa

from scraper.db import PreparedQuery
from scraper.core.sourcevector import Instance, SourceVector
from scraper.sources.sql.chain import Chain
from scraper.sources.sql.counting import SpanCounter, counted_search, search_count
from scraper.db.kinds import wrong_kind
from scraper.sources.sql.reader import NO_LATE
from scraper.sources.sql.spans import First, Span, merged, show

if TYPE_CHECKING:  # pragma: no cover
    from scraper.api import Scraper
    from scraper.sources.sql.reader import SourceReader


# Entries per propagation below which reading batches into Python is cheaper than a query per
# propagation (a skip query costs ~50 us on SQLite, ~300 us on MariaDB; Python ~5-25 us per entry).
MIN_STRETCH = 16
STEADY = ("_fut",)  # the wall-clock bound: the same value for ~2 000 searches (core/wallclock.py)
_SMOOTHING = 0.05  # weight of the newest stretch in the running estimate (~ the mean of the last 20)


class Skipper:
    """The skip search of one source: a prebuilt statement (bound parameters only, compiled once) and
    the running estimate that decides when it is worth using.

    Entries skipped are counted afterwards, `count_spans` stretches per query (on a thread of its own
    where the dialect says `count_aside`: a server's counting overlaps Python's work): a
    count in the skip statement itself would have to be bounded by the candidate it finds, and MariaDB
    cannot use a correlated bound as an index range (it counted to the end of the table, per query).
    The same query checks each id-order stretch (see settle). Stretches before sv[0] are counted
    once `count_spans` of them have closed, and before every commit, which waits for them
    (so nothing is committed on an unchecked stretch); the current one, which a redo may still
    undo, when the run ends. Progress and metrics lag by at most `count_spans` stretches."""

    def __init__(self, reader: "SourceReader", first: First, condition: sa.ColumnElement[bool],
                 steps: tuple[timedelta, timedelta] | None = None):
        self.reader, self.first, self._condition = reader, first, condition
        self._steps = steps  # (interval, maxage): the searches may be chained (chain.py)
        self.count_spans = reader.dialect.count_spans  # spans per counting query
        # entries per propagation, estimated: measured in Python first (a few short stretches, as in
        # a small table, are never worth a query each)
        self.stretch = 0.0
        self._measured = False
        self._closed: list[Span] = []  # spans before sv[0]: final
        self._open: list[Span] = []  # spans after sv[0]: dropped by a redo
        self._open_estimate = 0  # entries in the open spans, estimated from ids (the heuristic only)
        self._statements: dict[tuple[bool, bool, bool], PreparedQuery] = {}
        self._counter = SpanCounter(reader, self.count_spans)
        self._pool: ThreadPoolExecutor | None = None  # the counting thread, started by the first count
        self._counting: list[Future[tuple[int, list[Span], int]]] = []  # counts under way, oldest first
        self._names: list[str] = []  # the source columns, as the skip statements return them
        # search the seen rows in id order (see statement): where ids follow time, as DCS tables' do;
        # off for the rest of the run once a span shows they do not (settle)
        self.by_id = True
        self._rules: tuple[Callable[[SourceVector], bool], timedelta] | None = None  # changed(), maxage
        self._chain: Chain | None | bool = False  # False: not built yet

    @classmethod
    def build(cls, reader: "SourceReader", scraper: "Scraper",
              steps: tuple[timedelta, timedelta] | None = None) -> "Skipper | None":
        """None when the regime declares no change rule (a free-form changed() is judged in Python).
        `steps` (interval, maxage): the searches may be chained on the server (chain.py)."""
        rule = scraper.rule()
        if rule is None:
            return None
        first = First(reader.query.selected_columns)
        columns = reader.query.selected_columns
        condition = rule.sql(scraper, first, columns, reader.dialect.float_slack)
        # an entry holding a value Python reads as NULL (kinds.py) is a candidate Python judges: Moved and
        # Differs see one by themselves (rules.py); a term per column costs the search ~35 % per row
        wrong = [] if rule.sees_wrong_kinds() else \
            [w for name in rule.columns() if name in reader.kinds.names
                 and reader.kinds.names.index(name) in reader.kinds.at
                 and (w := wrong_kind(reader.engine.dialect.name, columns[name])) is not None]
        if wrong:
            condition = sa.or_(condition, *wrong)
        return cls(reader, first, condition, steps)

    # --- the statement ----------------------------------------------------------------------------
    def _after(self, dt: sa.ColumnElement, id_: sa.ColumnElement) -> sa.ColumnElement[bool]:
        """Rule 1 of a sample for the entries after sv[-1]: date_time >= lo (= max(tcursor, sv[-1].t), an index range)
        and (date_time, id) beyond sv[-1]."""
        t = sa.bindparam("_t", type_=self.reader.dt.type)
        return sa.and_(dt >= sa.bindparam("_lo", type_=self.reader.dt.type),
                       sa.not_(sa.and_(id_ <= sa.bindparam("_i", type_=self.reader.id.type), dt == t)))

    def statement(self, seen: bool, with_watermark: bool = True) -> PreparedQuery:
        """The search for the first candidate beyond sv[-1] (the rule's SQL, or over maxage; _kind 0).

        `by_id` (the seen rows only): the first candidate in id order rather than (date_time, id)
        order. The same entry wherever ids follow time, and cheaper: the table's own order, no index
        entry to follow per row (MariaDB: ~0.6 us a row instead of ~1.3). The counting query then
        checks each such span for entries with an id outside its ends, which Python judges
        (_judge_disordered: a candidate among them makes settle() report the stretch).

        `seen`: among the rows the last late check saw (id <= _wm), nothing else — the common case, a
        single SELECT. Otherwise one UNION ALL, hence one snapshot, adds the latest entry (1) — with no
        candidate, every entry up to it was judged unchanged — and the late check (2: highest id in
        `id`, late rows in `_late`), which moves the watermark. Rows committed after a check are thus
        never searched before the next check, which counts those behind the cursor as late, exactly
        as a batch query does (reader.py): nothing is both read and late, nothing lost.

        Lean because MariaDB's cost is mostly per statement: nested derived tables took ~1 ms to
        optimize, a second copy of the rule's SQL (to say why a row qualified) ~0.1 ms, each further UNION
        branch ~0.05 ms; PyMySQL parses every column's description per call. Hence the late check and
        the latest entry only after the seen rows hold no candidate."""
        by_id = seen and self.by_id
        key = (seen, with_watermark, by_id)
        stmt = self._statements.get(key)
        if stmt is not None:
            return stmt
        r = self.reader
        dt, id_, q = r.dt, r.id, r.query
        cols = list(q.selected_columns)
        after = self._after(dt, id_)
        watermark = sa.bindparam("_wm", type_=id_.type) if with_watermark else None
        # tested on every row the rule calls unchanged: the column without its affinity (SQLite), which
        # would convert both texts to numbers first, every time (~1/10 of the search's work)
        overage = r.dialect.unaffined(dt) > sa.bindparam("_limit", type_=dt.type)
        # alone (seen), the search returns the source columns only: PyMySQL parses each column's
        # description per call, ~5 us apiece on MariaDB
        cand = (q if seen else q.with_only_columns(sa.literal_column("0").label("_kind"), *cols,
                                                   NO_LATE))
        # in id order the search's `id > _i` already excludes what `after` excludes at date_time = _t
        # (the entries up to sv[-1]): the lower bound alone is the same condition, one term less per row
        lower = sa.and_(dt >= sa.bindparam("_lo", type_=dt.type)) if by_id else after
        dialect = r.dialect
        # the rule first: false on nearly every row looked at, it ends the row's test at once (the lower
        # bound, true on nearly every row, is then left to the few the rule calls changed: SQLite ~10 %)
        # entries dated beyond the wall-clock bound are not data yet (core/wallclock.py): neither a
        # candidate nor the latest entry
        early = dt <= sa.bindparam("_fut", type_=dt.type)
        # in id order, the time bounds are tested on the rows walked, never answered from the date_time
        # index (dialects.off_index)
        bounds = [dialect.off_index(lower), dialect.off_index(early)] if by_id else [lower, early]
        cand = cand.where(sa.or_(self._condition, overage), *bounds).limit(1)
        tail = (q.with_only_columns(sa.literal_column("1").label("_kind"), *cols, NO_LATE)
                .where(after, early).order_by(dt.desc(), id_.desc()).limit(1))
        if by_id:
            cand = cand.where(id_ > sa.bindparam("_i", type_=id_.type), id_ <= watermark).order_by(id_)
        else:
            cand = cand.order_by(dt, id_)
            if seen:
                cand = cand.where(id_ <= watermark)
        # walk the table itself (by_id), else the date_time index, never weigh both
        cand = dialect.walk_table(cand, r.main) if by_id else dialect.walk_time_index(cand, r.main)
        tail = dialect.walk_time_index(tail, r.main)
        if seen:
            if dialect.count_in_search:
                cand = counted_search(r, cand, by_id)
            stmt = self._statements[key] = PreparedQuery(r.engine, cand, steady=STEADY)
            return stmt
        maxid, late, _first, _last = r.late_check(after, watermark).selected_columns
        check = sa.select(sa.literal_column("2"), maxid, *[sa.null()] * (len(cols) - 1), late)
        if watermark is not None:
            check = check.where(id_ > watermark)
        parts = [dialect.compound_part(p) for p in (cand, tail, check)]
        stmt = self._statements[key] = PreparedQuery(r.engine, sa.union_all(*parts), steady=STEADY)
        return stmt

    def _judge_disordered(self, sp: Span) -> str | None:
        """Entries out of id order in an id-order span (a DCS row committed late, say) were not looked
        at by its search; harmless unless one is a candidate. Python judges each against that span's
        sv[0] (rarely more than a few rows); for the first it calls changed or overage, what was missed."""
        r = self.reader
        dt, id_ = r.dt, r.id
        (ut, ui), (di, du) = sp.upto, sp.id_bounds()
        stmt = r.query.where(r.after(sp.lo, sp.after), sa.or_(dt < ut, sa.and_(dt == ut, id_ < ui)),
                             id_ <= sp.wm, sa.or_(id_ <= di, id_ >= du)).order_by(dt, id_)
        changed, maxage = self._rules
        for inst in r.run(stmt):
            sv = SourceVector(r.source, sp.lo, sp.first)
            sv.sample(inst, changed, maxage)
            if sv.proceed:
                return (f"{r.main.name}: ids do not follow date_time between {show(sp.after[0])} (id "
                        f"{sp.after[1]}) and {show(sp.upto[0])} (id {sp.upto[1]}): entry id={inst['id']} "
                        f"({show(inst.t)}) was missed")
        return None

    def _search(self, params: dict[str, Any], seen: bool) -> tuple[tuple | None, int | None]:
        """Run a skip statement (and note its late check): the candidate's row, else the latest entry's
        (not `seen`), else None; and the span's count where the search made it (counted_search)."""
        r = self.reader
        stmt = self.statement(seen, "_wm" in params)
        rows = r.execute(stmt, params)
        if seen:
            if not rows:
                return None, None
            if r.dialect.count_in_search:
                self._names = stmt.keys[:-1]
                return (0, *rows[0][:-1], None), search_count(rows[0][-1])
            self._names = stmt.keys
            return (0, *rows[0], None), None
        self._names = stmt.keys[1:-1]
        by_kind = {row[0]: row for row in rows}
        check = by_kind[2]
        if check[-1]:
            reach = r.after(params["_lo"], (params["_t"], params["_i"]))
            r.note_check(check[1], check[-1], *r.late_range(reach, params["_wm"], check[1]), params["_lo"])
        else:
            r.note_check(check[1], None, None, None, params["_lo"])
        return by_kind.get(0) or by_kind.get(1), None

    def _search_seen(self, params: dict[str, Any]) -> tuple[tuple | None, int | None]:
        """The seen-rows search: from a chain of them where the server runs one (chain.py)."""
        chain = self._chained() if self.by_id else None
        if chain is None:
            return self._search(params, seen=True)
        row = chain.take(params, self.reader.execute)
        self._names = chain.search.keys
        return ((0, *row, None) if row is not None else None), None

    @property
    def chain(self) -> Chain | None:
        """The chained seen-rows search, once built (MariaDB)."""
        return self._chain or None

    def _chained(self) -> Chain | None:
        if self._chain is False:
            r, steps = self.reader, self._steps
            self._chain = None if steps is None else Chain.build(
                r.engine, self.statement(seen=True), r.query, self.first, *steps, r.dialect.chain_length)
        return self._chain

    # --- counting ---------------------------------------------------------------------------------
    def settle(self, final: bool = False) -> str | None:
        """Count the spans before sv[0] (and, when `final`, the open stretch too) into the reader's
        skipped entries, waiting for every count under way, so that what a commit rests on is checked.
        None when all is well; else what an id-order search missed: nothing decided since the last
        commit can be trusted, and this source is searched in (date_time, id) order from now on."""
        self._submit(self._closed + (self._open if final else []))
        self._closed = []
        if final:
            self._open, self._open_estimate = [], 0
        return self._collect(wait=True)

    def _submit(self, spans: list[Span]) -> None:
        """Count `count_spans` spans a query: on a thread of its own (own connection) where the dialect
        counts aside, so that the server counts while Python works on the propagation (MariaDB
        catch-up: ~10 %, bench/); at once otherwise (SQLite), the result kept as a finished Future.
        Spans their own search counted (counting.counted_search) are added as they are, no query."""
        known = [sp for sp in spans if sp.counted is not None]  # counted by their searches
        if known:
            done: Future[tuple[int, list[Span], int]] = Future()
            done.set_result((sum(sp.counted for sp in known), [], 0))  # exact, none out of id order
            self._counting.append(done)
            spans = [sp for sp in spans if sp.counted is None]
        aside = self.reader.dialect.count_aside
        if spans and aside and self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scraper-count")
        for k in range(0, len(spans), self.count_spans):
            chunk = spans[k:k + self.count_spans]
            if aside:
                self._counting.append(self._pool.submit(self._counter.count, chunk))
                continue
            counted: Future[tuple[int, list[Span], int]] = Future()
            try:
                counted.set_result(self._counter.count(chunk))
            except BaseException as exc:  # raised where a thread's count would be: in _collect
                counted.set_exception(exc)
            self._counting.append(counted)

    def _collect(self, wait: bool) -> str | None:
        """Add the finished counts (all, with `wait`), in order, and judge their suspect spans here, on
        the engine's thread; re-raise what a count raised. What was missed, as settle() says."""
        while self._counting and (wait or self._counting[0].done()):
            skipped, suspects, queries = self._counting.pop(0).result()
            self.reader.judged_in_sql(skipped, queries=queries)
            for sp in suspects:
                missed = self._judge_disordered(sp)
                if missed is not None:
                    self.forget()
                    self.by_id = False
                    return missed
        return None

    def forget(self) -> None:
        """The loop resumes from the target: every span since the last commit will be searched again."""
        for running in self._counting:
            running.exception()  # wait; whatever it found is moot now
        self._counting, self._closed = [], []
        self._open, self._open_estimate = [], 0
        if self._chain:
            self._chain.forget()

    def close(self) -> None:
        for running in self._counting:
            running.exception()
        self._counting = []
        for stmt in self._statements.values():
            stmt.close()
        if self._chain:
            self._chain.close()
        if self._pool is not None:
            # a connection is closed by the thread that made it
            self._pool.submit(self._counter.close).result()
            self._pool.shutdown()
            self._pool = None
        else:
            self._counter.close()

    # --- sampling ---------------------------------------------------------------------------------
    def worthwhile(self, sv: SourceVector) -> bool:
        """Skip while propagations are far apart: judged by the recent stretches and the current one."""
        return self.stretch >= MIN_STRETCH or self._since_first(sv) >= MIN_STRETCH

    def _since_first(self, sv: SourceVector) -> int:
        return sv.nsample - sv.run_start + self._open_estimate

    def proceeded(self, sv: SourceVector) -> str | None:
        """A PROCEED of this source: fold its stretch (entries since the previous one) into the estimate;
        if that says skip again, drop what a batch query read ahead rather than judge it all in Python.
        Finished counts are collected on the way: what they found missed, as settle() says."""
        stretch = self._since_first(sv)
        self._closed += merged(self._open)
        self._open, self._open_estimate = [], 0
        self.stretch = stretch if not self._measured else (1 - _SMOOTHING) * self.stretch + _SMOOTHING * stretch
        self._measured = True
        if self.stretch >= MIN_STRETCH and self.reader.buffered:
            self.reader.reset()
        if len(self._closed) >= self.count_spans:  # keeps the counts near current: one query per `count_spans`
            self._submit(self._closed)
            self._closed = []
        return self._collect(wait=False)

    def sample(self, sv: SourceVector, changed: Callable[[SourceVector], bool], maxage: timedelta) -> bool:
        """Sample the next entry worth Python's attention into `sv`, the entries before it judged
        unchanged by the database; False when the source has nothing beyond sv[-1]."""
        r = self.reader
        self._rules = (changed, maxage)  # for judging disordered entries when their count comes back
        t, i = sv.last_key
        lo = max(sv.tcursor, t)
        if r.floor is not None and lo < r.floor:
            lo = r.floor
        params = {"_lo": lo, "_t": t, "_i": i, "_limit": sv[0].t + maxage, "_fut": r.bound(),
                  **self.first.values(sv[0])}
        row = counted = None
        if r.watermark is not None:
            params["_wm"] = r.watermark
            row, counted = self._search_seen(params)
        by_id = row is not None and self.by_id  # found by the seen-rows search, in id order
        if row is None:  # no candidate among the rows seen: look at all, check for late rows
            row, counted = self._search(params, seen=False)
        if row is None:
            return False
        kind = row[0]
        inst = r.kinds.instance(Instance(zip(self._names, row[1:-1])))
        self._open.append(Span(lo, (t, i), inst.key, r.watermark, by_id=by_id, first=sv[0] if by_id else None,
                               counted=counted))
        self._open_estimate += max(1, int(inst["id"]) - int(i)) - 1  # ids mostly count entries: enough here
        r.entries_read += 1
        sv.sample(inst, changed, maxage)
        # the rule's SQL holds wherever its Python test does (scraper.rules): with no candidate, the
        # latest entry is unchanged for Python too
        assert not (kind == 1 and sv.proceed), f"{r.main.name}: entry id={inst['id']} is {sv.state} in Python, not in SQL"
        return True

