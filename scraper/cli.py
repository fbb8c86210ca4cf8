"""`scr.py`: parse, call one function of scraper.commands, print. Operator mistakes -> one line, exit 2."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from scraper import commands, config, modes
from scraper.errors import ConfigError, OperatorError, RegimeError
from scraper.db import cancel
from scraper.runtime.retry import Stopped
from scraper.runtime.runner import RunOptions
from scraper.runtime.stop import StopRequest, sentinel_path

USAGE = """scr.py -s SECTION [--cfg PATH] [--KEY VALUE ...] [--catchup] [--ALLOW_DROP_CREATE_TABLE]
              [--DROP_TARGET_TABLES] [--dry-run] [--help]
       scr.py [--cfg PATH] VERB ..."""
HELP = f"""usage: {USAGE}

Propagate DCS source tables into a DBI-style conditions database.

verbs:
  -s SECTION                     run a section: live until stopped, or until caught up (--catchup)
  status                         one health line per section, read from the databases
  show -s SECTION                the records (or points) valid --at TIME, or --from A --to B
  plot -s SECTION                source entries against the target, per column: --out FILE.png
  report -s SECTION              the rules replayed for lists of --threshold, --maxage, --interval
  backup -s SECTION DEST         a consistent copy of a live bridged file (mode bridge)
  migrate -s SECTION check|fix   bring a bridged file up to the regime's layout
  reconcile -s SECTION --day D   a stream's night: broker against target (exit 1: keys missing)
  new-regime NAME [--dir D]      write a regime module, its config sections and a kit test
  -S PATH -s SECTION|ALL         write supervisord program files (carrying --KEY VALUE overrides)

global options (before or after the verb):
  --cfg PATH                     config file (default $SCRAPER_CFG, else ./scraper.cfg)
  -s, --section SECTION          section of the config file
  -h, --help                     this help; with -s SECTION: the section's keys, values and defaults

run options:
  --catchup                      run until the sources' latest entries are sampled, then exit 0
  --ALLOW_DROP_CREATE_TABLE      create missing target tables (and a new SQLite target file)
  --DROP_TARGET_TABLES           drop the target tables first (tests, re-runs)
  --dry-run                      say what would be changed, change nothing (decimator)
  --KEY VALUE                    override any config key of the section's mode for this run

Every key of a section, with its value, default and where it is set: scr.py -s SECTION --help.
Every key of every mode: docs/config.md. A verb's own options: scr.py show --help (plot, report)."""
LOOK_USAGE = {
    "show": "-s SECTION (--at TIME | --from A --to B) [--local] [--format table|csv|json] [--columns C,...]",
    "plot": "-s SECTION --from A --to B --out FILE.png [--columns C,...] [--rows 1-8,...] [--local]",
    "report": "-s SECTION --from A --to B [--threshold 0.5,1,2] [--maxage 10m,1h] [--interval ...] "
              "[--out FILE.png] [--format table|csv|json]",
}
# verb -> its operand, if any (verbs are bare words, not positional arguments: `--bogus 3` stays an unknown key)
VERBS = {"status": None, "new-regime": None, "backup": "DEST", "migrate": "check|fix"}
LOOK_VERBS = ("show", "plot", "report")  # read-only looks at a section's data (scraper/look/)
OWN_VERBS = ("reconcile",)  # verbs with a parser of their own (a stream's night: modes/stream/reconcile.py)
# flags that shape one run, refused with -S (--KEY VALUE overrides are carried into the program instead)
ONE_RUN_FLAGS = {"catchup": "--catchup", "ALLOW_DROP_CREATE_TABLE": "--ALLOW_DROP_CREATE_TABLE",
                 "DROP_TARGET_TABLES": "--DROP_TARGET_TABLES", "dry_run": "--dry-run"}
LOOK_OWN = {"report": ("threshold", "interval", "maxage")}  # lists of values to replay, not overrides
# Options that take a value, so that the verb is the first word that is neither an option nor a value:
# `scr.py --cfg x.cfg show -s s` reads like `scr.py show --cfg x.cfg -s s`, as git and alembic read it.
VALUED = ("-s", "--section", "-S", "--cfg", "--at", "--from", "--to", "--format", "--out", "--columns", "--rows",
          "--dir")
RUN_FLAGS = ("section", "cfg", "help", "catchup", "ALLOW_DROP_CREATE_TABLE", "DROP_TARGET_TABLES", "dry-run")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + traceback-like noise
        raise OperatorError(f"scr.py: {message}")


def _parser() -> argparse.ArgumentParser:
    """Parses a run (and the verbs other than show/plot/report); the help is HELP, written by hand so
    that it stays short: the keys are in `scr.py -s SECTION --help` and docs/config.md."""
    p = _Parser(prog="scr.py", usage=USAGE, add_help=False)
    p.add_argument("-s", "--section")
    p.add_argument("-S", dest="supervisord", metavar="PATH")
    p.add_argument("--cfg", metavar="PATH")
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("--catchup", action="store_true")
    p.add_argument("--ALLOW_DROP_CREATE_TABLE", action="store_true")
    p.add_argument("--DROP_TARGET_TABLES", action="store_true")
    p.add_argument("--dry-run", action="store_true")
    for key in modes.all_keys().values():  # only for `--KEY` without its value: "expected one argument"
        p.add_argument(f"--{key.name}", dest=f"key_{key.name}", metavar="VALUE", help=argparse.SUPPRESS)
    return p


def _verb(argv: list[str]) -> tuple[str | None, list[str]]:
    """The verb and the other words: the first bare word that is not an option's value, wherever it
    stands, so options may come before the verb."""
    keys = modes.all_keys()
    i = 0
    while i < len(argv):
        word = argv[i]
        if word.startswith("-") and len(word) > 1:
            takes_value = "=" not in word and (word in VALUED or word[2:] in keys)
            i += 2 if takes_value else 1
            continue
        if word in VERBS or word in LOOK_VERBS or word in OWN_VERBS:
            return word, argv[:i] + argv[i + 1:]
        break
    return None, argv


def _reject(unknown: list[str], cfg_path: str | None, section: str | None, flags: tuple[str, ...],
            verb: str = "") -> OperatorError:
    """The one line for the first word nobody understood: a mistyped option of the verb, or a key the
    section's mode does not have, blamed on the command line with the keys it is close to."""
    prog = f"scr.py {verb}".strip()
    helped = f"scr.py {verb} --help" if verb in LOOK_VERBS else "scr.py --help"
    word = unknown[0]
    name = word.lstrip("-").split("=")[0]
    if word.startswith("--"):
        hint = config.did_you_mean(name, flags, "--")
        if hint and name not in modes.all_keys():
            return OperatorError(f"{prog}: unknown option --{name} ({hint}see {helped})")
        if section:  # loading names the section's file and mode first, and suggests from its keys
            commands.settings(cfg_path, section, {name: _value_of(unknown) or ""})
            return config.unknown_key(config.COMMAND_LINE, section, name, _value_of(unknown))
        return OperatorError(f"{prog}: unknown option --{name} ({config.did_you_mean(name, modes.all_keys(), '--')}"
                             f"a key needs -s SECTION; see {helped})")
    hint = config.did_you_mean(word, [*VERBS, *LOOK_VERBS]) if not verb else ""
    return OperatorError(f"{prog}: unrecognized argument {word} ({hint}see {helped})")


def _value_of(unknown: list[str]) -> str | None:
    """The value given with an unrecognised `--KEY VALUE` (or `--KEY=VALUE`), for the error line."""
    head, eq, value = unknown[0].partition("=")
    if eq:
        return value
    return unknown[1] if len(unknown) > 1 and not unknown[1].startswith("-") else None


def _split_overrides(argv: list[str], own: tuple[str, ...] = ()) -> tuple[list[str], dict[str, str]]:
    """`--KEY VALUE` pairs for config keys, taken before argparse sees them: a value may start with
    '-' (`--interval -10s` is then reported on the key `interval`, not as a missing argument).
    `own`: flags a verb gives a meaning of its own (report's lists of thresholds)."""
    known = {name: key for name, key in modes.all_keys().items() if name not in own}
    rest, overrides, i = [], {}, 0
    while i < len(argv):
        word = argv[i]
        name, eq, value = word[2:].partition("=") if word.startswith("--") else ("", "", "")
        if name in known:
            if eq:
                overrides[name] = value
            elif i + 1 < len(argv):
                overrides[name] = argv[i + 1]
                i += 1
            else:
                rest.append(word)  # argparse says "expected one argument" for --KEY at the very end
            i += 1
            continue
        rest.append(word)
        i += 1
    return rest, overrides


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except OperatorError as exc:
        print(exc, file=sys.stderr)
        return 2
    except RegimeError as exc:
        print(exc, file=sys.stderr)
        return RegimeError.exit_status
    except BrokenPipeError:  # `scr.py show ... | head`: the reader has seen enough, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def entry() -> None:
    """`scr.py` and `python -m scraper`: main(), then exit with its status, ignoring a SIGTERM/SIGINT
    that arrives while the interpreter shuts down (StopRequest.finished). Not inside main(): a
    program calling main() (a test, say) must not be left ignoring signals."""
    status = main()
    StopRequest.finished()
    raise SystemExit(status)


def _main(argv: list[str]) -> int:
    verb, argv = _verb(argv)
    if verb in LOOK_VERBS:
        return _look(verb, argv)
    if verb == "reconcile":
        return _reconcile(argv)
    parser = _parser()
    argv, overrides = _split_overrides(argv)
    args, unknown = parser.parse_known_args(argv)
    args.verb = verb
    if args.verb == "new-regime":
        return _new_regime(unknown)
    args.operand = None
    if args.verb in ("backup", "migrate"):
        if not unknown or unknown[0].startswith("-"):
            raise OperatorError(f"scr.py {args.verb}: missing {VERBS[args.verb]} (usage: scr.py {args.verb} "
                                f"-s SECTION {VERBS[args.verb]})")
        args.operand = unknown.pop(0)
    if unknown:
        raise _reject(unknown, args.cfg, args.section, RUN_FLAGS, args.verb or "")
    overrides.update({k[4:]: v for k, v in vars(args).items() if k.startswith("key_") and v is not None})
    if args.verb == "status":
        from scraper.runtime.status import HEALTHY, table

        rows = commands.status(args.cfg)
        print(table(rows))
        return 0 if all(r.health in HEALTHY for r in rows) else 1
    if args.supervisord:
        if not args.section:
            raise OperatorError("scr.py: -S PATH needs -s SECTION (or -s ALL)")
        flags = [flag for dest, flag in ONE_RUN_FLAGS.items() if getattr(args, dest)]
        if flags:  # one run's choices: a program supervisord restarts would repeat them at every start
            raise OperatorError(f"scr.py -S: {flags[0]} is for one run, not for a supervisord program "
                                "(only --KEY VALUE overrides are carried into it)")
        for path in commands.supervisord(args.cfg, args.section, args.supervisord, overrides):
            print(f"wrote {path}")
        return 0
    if not args.section:
        if args.verb in ("backup", "migrate"):
            raise OperatorError(f"scr.py {args.verb}: needs -s SECTION (a section with mode = bridge)")
        return _without_section(args)
    cfg = commands.settings(args.cfg, args.section, overrides)
    if args.verb == "backup":
        print(commands.backup(cfg, args.operand).text())
        return 0
    if args.verb == "migrate":
        result = commands.migrate(cfg, args.operand)
        print(result.text())
        return 1 if args.operand == "check" and result.needed else 0
    if args.help:
        print(cfg.describe())
        return 0
    logging.basicConfig(level=cfg.loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SIGTERM/SIGINT (or the sentinel file) finish the current propagation, then the loop exits 0; a
    # stop also ends a statement that would run on for minutes
    stop = StopRequest(sentinel_path(cfg))
    stop.on_signals(cancel.cancel_all)
    try:
        summary = commands.run(cfg, RunOptions(allow_create=args.ALLOW_DROP_CREATE_TABLE, drop=args.DROP_TARGET_TABLES,
                                               catchup=args.catchup, dry_run=args.dry_run, stop=stop))
    except Stopped:  # stopped during start-up (waiting for a database, or a statement was cancelled)
        print(f"[{cfg.section}] stopped during start-up")
        return 0
    print(summary.text())
    return 0


def _new_regime(words: list[str]) -> int:
    dest = "."
    if "--dir" in words:
        at = words.index("--dir")
        if at + 1 >= len(words):
            raise OperatorError("scr.py new-regime: --dir needs a directory")
        dest = words[at + 1]
        del words[at:at + 2]
    if len(words) != 1 or words[0].startswith("-"):
        raise OperatorError("scr.py new-regime: give the regime's module name, e.g. scr.py new-regime gaspressure")
    for path in commands.new_regime(words[0], dest):
        print(f"wrote {path}")
    return 0


def _reconcile(argv: list[str]) -> int:
    """`scr.py reconcile`: a stream section's night, broker against target; exit 1 when keys are missing."""
    p = _Parser(prog="scr.py reconcile", add_help=False,
                usage="scr.py reconcile -s SECTION --day DATE [--format table|json] [--cfg PATH]")
    p.add_argument("-s", "--section")
    p.add_argument("--cfg")
    p.add_argument("--day")
    p.add_argument("--format", default="table", choices=("table", "json"))
    argv, overrides = _split_overrides(argv, ("format",))  # --format is the output's here, not the messages'
    args, unknown = p.parse_known_args(argv)
    if unknown:
        raise OperatorError(f"scr.py reconcile: unrecognized argument {unknown[0]}")
    if not args.section or not args.day:
        raise OperatorError("scr.py reconcile: needs -s SECTION and --day DATE")
    cfg = commands.settings(args.cfg, args.section, overrides)
    if cfg.mode != "stream":
        raise cfg.error("mode", f"reconcile is for mode = stream sections, not {cfg.mode}")
    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from scraper.modes.stream.reconcile import reconcile

    result = reconcile(cfg, args.day)
    print(result.json() if args.format == "json" else result.text())
    return 1 if result.missing else 0


def _look_parser(verb: str) -> argparse.ArgumentParser:
    usage = f"scr.py {verb} {LOOK_USAGE[verb]} [--cfg PATH] [--KEY VALUE ...]"
    p = _Parser(prog=f"scr.py {verb}", usage=usage, add_help=False, description={
        "show": "Print the validity records (and payload rows) of a section's target.",
        "plot": "Draw source entries against the target's step function, per column, into a PNG.",
        "report": "Replay the section's rules for every threshold x maxage x interval over a range, "
                  "in memory, without writing: records against fidelity."}[verb])
    p.add_argument("-s", "--section", help="section of the config file")
    p.add_argument("--cfg", metavar="PATH", help="config file (default $SCRAPER_CFG, else ./scraper.cfg)")
    p.add_argument("-h", "--help", action="store_true", help="print this help")
    p.add_argument("--local", action="store_true", help="times are source-local (source_tz), not UTC")
    if verb == "show":
        p.add_argument("--at", metavar="TIME", help="the records valid at TIME")
    p.add_argument("--from", dest="start", metavar="A", help="start of the range")
    p.add_argument("--to", dest="end", metavar="B", help="end of the range")
    if verb in ("show", "report"):
        p.add_argument("--format", default="table", help="table (default), csv or json")
    if verb in ("plot", "report"):
        p.add_argument("--out", metavar="FILE.png", help="the PNG to write")
    if verb in ("show", "plot"):
        p.add_argument("--columns", metavar="C,...", help="target columns to show or draw (default: "
                       + ("all" if verb == "show" else "those that vary") + ")")
    if verb == "plot":
        p.add_argument("--rows", metavar="1-8,...", help="payload rows (ROW_COUNTER) to draw")
    for name in LOOK_OWN.get(verb, ()):
        p.add_argument(f"--{name}", dest=f"list_{name}", metavar="V,...",
                       help=f"{name} values to replay, comma-separated (default: the configured one)")
    p.epilog = "--KEY VALUE overrides any config key of the section's mode, as for a run."
    return p


def _look(verb: str, argv: list[str]) -> int:
    """`scr.py show|plot|report`: look at a section's target without writing anything."""
    parser = _look_parser(verb)
    argv, overrides = _split_overrides(argv, ("format", *LOOK_OWN.get(verb, ())))  # --format: the output's
    args, unknown = parser.parse_known_args(argv)
    if args.help:
        parser.print_help()
        return 0
    if not args.section:
        raise OperatorError(f"scr.py {verb}: needs -s SECTION (see scr.py {verb} --help)")
    if unknown:
        flags = ("section", "cfg", "help", "local", "at", "from", "to", "format", "out", "columns", "rows",
                 *LOOK_OWN.get(verb, ()))
        raise _reject(unknown, args.cfg, args.section, flags, verb)
    if verb == "report":
        result = commands.report(args.cfg, args.section, overrides, start=args.start, end=args.end,
                                 thresholds=args.list_threshold, maxages=args.list_maxage,
                                 intervals=args.list_interval, local=args.local, out=args.out,
                                 fmt=args.format)
        print(result.text())
        return 0
    cfg = commands.settings(args.cfg, args.section, overrides)
    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    if verb == "show":
        result = commands.show(cfg, at=args.at, start=args.start, end=args.end, local=args.local, fmt=args.format,
                               columns=columns)
    else:
        result = commands.plot(cfg, start=args.start, end=args.end, out=args.out, columns=columns,
                               rows=args.rows, local=args.local)
    print(result.text())
    return 0


def _without_section(args: argparse.Namespace) -> int:
    """`scr.py --help` is a question (full help, exit 0, even without a config file); a bare `scr.py`
    is a mistake: one line saying what to type and which sections exist, exit 2."""
    path = config.config_path(args.cfg)
    try:
        known = f"sections in {path}: {', '.join(config.sections(path)) or 'none'}"
    except ConfigError as exc:
        known = str(exc)
    if args.help:
        print(f"{HELP}\n\n{known}")
        return 0
    raise OperatorError(f"scr.py: no section given: run scr.py -s SECTION ({known}); scr.py --help lists every option")
