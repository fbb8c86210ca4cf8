"""Fake source tables from a no-data `mysqldump` file (`faker_ddl`), as the original framework did.

Operators make the file from the real DCS database with
`mysqldump --no-data --lock-tables=false dcsdb TABLE... > fake_dcs.sql`, so the fake source has exactly
the production column types, indexes and engine. Only the DROP TABLE and CREATE TABLE statements are
executed: the dump's session settings (`/*!40101 SET ... */`, `LOCK TABLES`) are about restoring a
dump, not about the schema, and would leak into the faker's connection.
"""
from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

_CREATE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?[`\"]?([\w$]+)[`\"]?", re.I)
_DROP = re.compile(r"^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?[`\"]?([\w$]+)[`\"]?", re.I)


def statements(text: str) -> list[str]:
    """Split SQL text into statements on `;` outside quotes, dropping `--`/`#` line comments and
    `/* */` comments (including MySQL's executable `/*!40101 ... */`)."""
    out, buf, i, n = [], [], 0, len(text)
    quote: str | None = None
    while i < n:
        c = text[i]
        if quote:
            buf.append(c)
            if c == "\\" and quote != "`" and i + 1 < n:
                buf.append(text[i + 1])
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"`":
            quote = c
            buf.append(c)
        elif text.startswith("--", i) and (i + 2 >= n or text[i + 2] in " \t\r\n") or c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        elif c == ";":
            stmt = "".join(buf).strip()
            if stmt:
                out.append(stmt)
            buf = []
        else:
            buf.append(c)
        i += 1
    tail = "".join(buf).strip()
    if tail:
        out.append(tail)
    return out


def table_statements(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """The dump's DROP TABLE and CREATE TABLE statements, keyed by table name."""
    drops, creates = {}, {}
    for stmt in statements(text):
        if m := _CREATE.match(stmt):
            creates[m.group(1)] = stmt
        elif m := _DROP.match(stmt):
            drops[m.group(1)] = stmt
    return drops, creates


def apply(engine: Engine, path: Path, names: list[str], drop: bool) -> None:
    """Create the tables `names` from the dump: dropping them first when `drop`, else only the missing
    ones. Raises LookupError naming a table the dump does not create."""
    _, creates = table_statements(path.read_text())
    absent = [name for name in names if name not in creates]
    if absent:
        raise LookupError(f"{path} has no CREATE TABLE for {', '.join(absent)}")
    have = set(sa.inspect(engine).get_table_names())
    raw = engine.raw_connection()  # DB-API cursor: a '%' in a COMMENT must not look like a parameter
    try:
        cur = raw.cursor()
        for name in names:
            if drop and name in have:
                cur.execute(f"DROP TABLE `{name}`")
            if drop or name not in have:
                cur.execute(creates[name])
        cur.close()
        raw.commit()
    finally:
        raw.close()
