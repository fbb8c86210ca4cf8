"""`scr.py`: parse, call one function of scraper.commands, print. Operator mistakes -> one line, exit 2."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from scraper import commands
from scraper import config
from scraper.errors import ConfigError, OperatorError
from scraper.runtime.stop import StopRequest, sentinel_path

USAGE = """scr.py -s SECTION [--cfg PATH] [--KEY VALUE ...] [--catchup] [--ALLOW_DROP_CREATE_TABLE]
              [--DROP_TARGET_TABLES] [--help]
       scr.py status [--cfg PATH]
       scr.py -S PATH -s SECTION|ALL [--cfg PATH]"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + traceback-like noise
        raise OperatorError(f"scr.py: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="scr.py", usage=USAGE, add_help=False,
                description="Propagate DCS source tables into a DBI-style conditions database.")
    p.add_argument("-s", "--section", help="section of the config file to run (ALL with -S)")
    p.add_argument("-S", dest="supervisord", metavar="PATH",
                   help="write a supervisord program .ini for the section to PATH (a directory for -s ALL)")
    p.add_argument("--cfg", metavar="PATH", help="config file (default $SCRAPER_CFG, else ./scraper.cfg)")
    p.add_argument("-h", "--help", action="store_true", help="with -s: print the section's effective settings")
    p.add_argument("--catchup", action="store_true", help="run until the sources' latest entries are sampled, then exit 0")
    p.add_argument("--ALLOW_DROP_CREATE_TABLE", action="store_true", help="create missing target tables")
    p.add_argument("--DROP_TARGET_TABLES", action="store_true", help="drop the target tables first (tests, re-runs)")
    keys = p.add_argument_group("overrides (any config key)")
    for key in config.KEYS.values():
        keys.add_argument(f"--{key.name}", dest=f"key_{key.name}", metavar="VALUE", help=key.doc)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except OperatorError as exc:
        print(exc, file=sys.stderr)
        return 2


def _main(argv: list[str]) -> int:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    # the one verb is a bare word, not a positional argument: `--bogus 3` must stay an unknown key
    args.verb = unknown.pop(0) if unknown and unknown[0] == "status" else None
    if unknown:
        name = unknown[0].lstrip("-").split("=")[0]
        if args.section and unknown[0].startswith("--"):
            raise ConfigError(config.config_path(args.cfg), args.section, name, "unknown key (see docs/config.md)")
        raise OperatorError(f"scr.py: unrecognized argument {unknown[0]} (see scr.py --help)")
    overrides = {k[4:]: v for k, v in vars(args).items() if k.startswith("key_") and v is not None}
    if args.verb == "status":
        from scraper.runtime.status import table

        rows = commands.status(args.cfg)
        print(table(rows))
        return 0 if all(r.health in ("OK", "-") for r in rows) else 1
    if args.supervisord:
        if not args.section:
            raise OperatorError("scr.py: -S PATH needs -s SECTION (or -s ALL)")
        for path in commands.supervisord(args.cfg, args.section, args.supervisord):
            print(f"wrote {path}")
        return 0
    if not args.section:
        return _without_section(parser, args)
    cfg = commands.settings(args.cfg, args.section, overrides)
    if args.help:
        print(cfg.describe())
        return 0
    logging.basicConfig(level=cfg.loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = _stop_on_signals(sentinel_path(cfg))
    summary = commands.run(cfg, allow_create=args.ALLOW_DROP_CREATE_TABLE, drop=args.DROP_TARGET_TABLES,
                           catchup=args.catchup, stop=stop)
    print(summary.text())
    return 0


def _without_section(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """`scr.py --help` is a question (full help, exit 0, even without a config file); a bare `scr.py`
    is a mistake: one line saying what to type and which sections exist, exit 2."""
    path = config.config_path(args.cfg)
    try:
        known = f"sections in {path}: {', '.join(config.sections(path)) or 'none'}"
    except ConfigError as exc:
        known = str(exc)
    if args.help:
        parser.print_help()
        print(f"\n{known}")
        return 0
    raise OperatorError(f"scr.py: no section given: run scr.py -s SECTION ({known}); scr.py --help lists every option")


def _stop_on_signals(sentinel: Path | None) -> threading.Event:
    """SIGTERM/SIGINT (or the sentinel file) finish the current propagation, then the loop exits 0."""
    stop = StopRequest(sentinel)

    def handler(signum, _frame):
        stop.request(f"received {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop
