"""The `callmon` command line. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import httpx

from callmon import __version__, config, credentials, output, redact
from callmon.alerts import Rule
from callmon.config import Config, ConfigError
from callmon.engine.once import DEFAULT_MAX_TIME
from callmon.files import FileError
from callmon.measures import DIMENSIONS
from callmon.model import Call
from callmon.providers import ADAPTERS, Source
from callmon.query import Query, QueryError, compile_query
from callmon.team.settings import PASSWORD_FIELD, PASSWORD_SOURCE, TeamSettings, TeamUrlError, check_url

if TYPE_CHECKING:
    from callmon.runtime import Session

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class PortTaken(Exception):
    """A port callmon was asked to listen on cannot be had (exit 1)."""


class UsageError(Exception):
    """Bad usage; its message is the one line printed."""


class _Parser(argparse.ArgumentParser):
    """argparse prints the whole usage block on error; callmon's contract is one line on stderr."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="callmon", description="Watch outbound phone calls across providers, live.")
    parser.add_argument("--version", action="version", version=f"callmon {__version__}")
    parser.add_argument(
        "--config", metavar="PATH", help="config file (default: $CALLMON_CONFIG or the user dir)"
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    # --config is accepted before or after the command; SUPPRESS keeps a subcommand from resetting it.
    common = _Parser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")

    monitor = sub.add_parser(
        "monitor", parents=[common], help="the live monitor on configured sources (the default)"
    )
    monitor.add_argument("--filter", metavar="QUERY", help="start with this filter")
    monitor.add_argument("--source", action="append", metavar="NAME", help="only this source (repeatable)")
    _metrics_arg(monitor)
    _team_arg(monitor)
    _display_args(monitor)

    demo = sub.add_parser("demo", parents=[common], help="the live monitor on the built-in simulator")
    demo.add_argument("--filter", metavar="QUERY", help="start with this filter")
    _scenario_args(demo, burst="45s+4m")
    _metrics_arg(demo)
    _display_args(demo)

    watch = sub.add_parser(
        "watch", parents=[common], help="print calls to stdout (a stream, or --once a snapshot)"
    )
    watch.add_argument("--once", action="store_true", help="poll every source once, print, exit")
    watch.add_argument("--format", choices=output.FORMATS, default=None, help="table (default with --once) …")
    watch.add_argument("--filter", metavar="QUERY", help="only calls matching QUERY")
    watch.add_argument("--source", action="append", metavar="NAME", help="only this source (repeatable)")
    watch.add_argument("--raw", action="store_true", help="include the provider's raw payload (json/ndjson)")
    watch.add_argument("--demo", action="store_true", help="watch the built-in simulator instead of config")
    watch.add_argument(
        "--since",
        type=_duration,
        metavar="AGE",
        help="with --once: also the calls history holds from this far back (e.g. 2d, 6h), not only today's",
    )
    watch.add_argument(
        "--alerts",
        action="store_true",
        help="print one ndjson line per alert that fires or clears ([[alerts]] in the config), not calls",
    )
    watch.add_argument(
        "--group-by",
        choices=DIMENSIONS,
        help="with --once: one line per campaign (provider, source, reason) with its measures, not the calls",
    )
    _metrics_arg(watch)
    _team_arg(watch)
    _people_args(watch)
    watch.add_argument(
        "--max-time",
        type=_ranged(float, 0, 86400, "a number of seconds", above=True),
        default=DEFAULT_MAX_TIME,
        metavar="SECONDS",
        help=f"with --once: stop each source after this long, within its budget (default {DEFAULT_MAX_TIME:g})",
    )

    sub.add_parser(
        "sources", parents=[common], help="list configured sources and whether their secrets are set"
    )

    hist = sub.add_parser(
        "history", parents=[common], help="the history file: its size, rows, oldest call; prune"
    )
    hist_sub = hist.add_subparsers(dest="history_command", parser_class=_Parser)
    hist_sub.add_parser("status", parents=[common], help="where it is, its size, how many calls, the oldest")
    prune = hist_sub.add_parser("prune", parents=[common], help="delete calls older than retention_days now")
    prune.add_argument(
        "--older-than", type=_duration, metavar="AGE", help="instead of retention_days: e.g. 2d, 36h, 90m"
    )
    serve = sub.add_parser(
        "serve", parents=[common], help="team collector: poll the accounts it leads, publish to the engine"
    )
    serve.add_argument("--source", action="append", metavar="NAME", help="only this source (repeatable)")
    _team_arg(serve)
    team = sub.add_parser("team", parents=[common], help="team mode: the shared engine")
    team_sub = team.add_subparsers(dest="team_command", parser_class=_Parser, required=True)
    status = team_sub.add_parser(
        "status", parents=[common], help="collectors, leases, stream lengths, memory, engine version"
    )
    _team_arg(status)

    auth = sub.add_parser("auth", parents=[common], help="provider secrets in the OS keyring")
    auth_sub = auth.add_subparsers(dest="auth_command", parser_class=_Parser, required=True)
    auth_set = auth_sub.add_parser(
        "set", parents=[common], help="store a source's secret (prompted, no echo)"
    )
    auth_set.add_argument("source", help="the source's name in the config")
    auth_set.add_argument("field", nargs="?", help="which secret (default: the provider's one)")
    auth_set.add_argument(
        "--stdin", action="store_true", help="read the secret from standard input (scripts)"
    )
    auth_set.add_argument("extra", nargs="*", help=argparse.SUPPRESS)
    auth_delete = auth_sub.add_parser("delete", parents=[common], help="remove a source's secret(s)")
    auth_delete.add_argument("source")
    auth_delete.add_argument("field", nargs="?")
    auth_sub.add_parser("status", parents=[common], help="which secrets are present, and from where")

    simulate = sub.add_parser("simulate", parents=[common], help="serve the provider simulator on a port")
    simulate.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    simulate.add_argument("--port", type=_port, default=8765, help="port, 0 for any free one (default 8765)")
    _scenario_args(simulate, burst=None)
    simulate.add_argument(
        "--push",
        action="append",
        default=[],
        metavar="PROVIDER=URL",
        help="POST that provider's webhooks to URL as calls change (a provider that pushes)",
    )
    simulate.add_argument(
        "--faults",
        action="append",
        default=[],
        metavar="SPEC",
        help="[provider:]fault[=value]: ratelimit=off, 5xx=0.1, slow=2, malformed=0.05, auth (repeatable)",
    )

    cfg = sub.add_parser("config", parents=[common], help="where the config is, a commented example, a check")
    cfg_sub = cfg.add_subparsers(dest="config_command", parser_class=_Parser, required=True)
    cfg_sub.add_parser("path", parents=[common], help="print the config file path in use")
    init = cfg_sub.add_parser("init", parents=[common], help="write a commented example config")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    cfg_sub.add_parser("check", parents=[common], help="validate the config file")
    return parser


_COLOR_SYSTEMS: dict[str, str | None] = {
    "auto": "auto", "truecolor": "truecolor", "256": "256", "16": "standard", "none": None,
}  # fmt: skip
_COMMANDS = ("monitor", "demo", "watch", "sources", "auth", "simulate", "config", "serve", "team")
# Options of the default command (the monitor) that take a value: their value is not a command name.
_VALUED = ("--config", "--filter", "--source", "--fps", "--colors", "--team")


def _team_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--team",
        metavar="URL",
        help="the team engine (redis:// or rediss://; default: [team] url in the config)",
    )


def _display_args(parser: argparse.ArgumentParser) -> None:
    """For slow links: fewer frames a second, fewer colours (so fewer and shorter escape sequences)."""
    parser.add_argument("--fps", type=_ranged(int, 1, 60, "a whole number"), default=None,
                        help="at most this many screen updates a second (default 60; try 2 on a slow link)")  # fmt: skip
    parser.add_argument("--colors", choices=list(_COLOR_SYSTEMS), default="auto",
                        help="colour depth: truecolor, 256, 16, or none (as NO_COLOR); default: what TERM says")  # fmt: skip
    _people_args(parser)


def _metrics_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics",
        type=_listen,
        metavar="HOST:PORT",
        help="serve Prometheus /metrics and /healthz there (overrides [metrics] listen)",
    )


def _listen(text: str) -> str:
    try:
        return config.check_listen(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} {exc}") from None


def _metrics_config(args: argparse.Namespace, cfg: Config | None) -> Any:
    """[metrics] from the config, with --metrics taking over its address."""
    from dataclasses import replace

    from callmon.config import Metrics

    base = cfg.metrics if cfg is not None else Metrics()
    flag = getattr(args, "metrics", None)
    chosen = replace(base, listen=flag) if flag else base
    address = chosen.address
    if address is not None:
        # Asked for, /metrics is what Prometheus and its alerts read: a taken port is a failure to start,
        # not a note on a screen nobody may be watching (and a scraper silently finding another process).
        from callmon.serve import bind

        try:
            bind(*address).close()
        except OSError as exc:
            raise PortTaken(f"metrics: cannot listen on {chosen.listen}: {exc.strerror or exc}") from None
    return chosen


def _people_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--utc", action="store_true", default=None, help="show times in UTC (default: local)")
    parser.add_argument(
        "--mask",
        action="store_true",
        default=None,
        help="mask phone numbers (+9198•••••463), e.g. to share a screen",
    )


def color_system(choice: str, environ: Mapping[str, str]) -> str | None:
    """The colour system to draw with: the flag's, else what the environment says the terminal can do (None:
    no colour at all)."""
    if choice != "auto":
        return _COLOR_SYSTEMS[choice]
    term = environ.get("TERM", "")
    if environ.get("NO_COLOR") or term == "dumb":
        return None
    if environ.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return "truecolor"
    if "256color" in term:
        return "256"
    return "standard"


def _apply_display(args: argparse.Namespace, cfg: Config | None = None) -> float | None:
    """Set Textual's frame cap and colour system, which Textual reads when it is imported: so this runs
    before anything imports it. Also how times and numbers read (callmon.display)."""
    import os

    if "textual" in sys.modules:
        raise RuntimeError("the display must be set up before Textual is imported")
    if args.fps:
        os.environ["TEXTUAL_FPS"] = str(args.fps)
    system = color_system(args.colors, os.environ)
    if system is None:
        os.environ["NO_COLOR"] = "1"
    else:
        os.environ["TEXTUAL_COLOR_SYSTEM"] = system
    _configure_people(args, cfg)
    return float(args.fps) if args.fps else None


def _configure_people(args: argparse.Namespace, cfg: Config | None) -> None:
    from callmon import display

    utc = args.utc if args.utc is not None else bool(cfg and cfg.utc)
    mask = args.mask if args.mask is not None else bool(cfg and cfg.mask_numbers)
    display.configure(display.Display(utc=utc, mask_numbers=mask))


def _scenario_args(parser: argparse.ArgumentParser, burst: str | None) -> None:
    parser.add_argument(
        "--seed", type=int, default=7, help="scenario seed: same seed, same calls (default 7)"
    )
    parser.add_argument(
        "--burst",
        type=_burst,
        default=_burst(burst) if burst else None,
        metavar="AT[+LENGTH][@CAMPAIGN]",
        help="a scripted failure burst: one campaign's calls fail from AT for LENGTH (default 4m), e.g. "
        f"1m+3m@Renewals1; 'off' for none (default {burst or 'off'})",
    )
    parser.add_argument("--calls", type=_count, default=300, help="calls across the campaigns (default 300)")
    parser.add_argument(
        "--speed", type=_speed, default=1.0, help="simulated seconds per real second (default 1)"
    )


def _ranged(convert: Callable[[str], Any], low: float, high: float, noun: str, *, above: bool = False) -> Any:
    """An argparse type: `convert`, then a range check, each failure one line naming the value."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not ((low < value) if above else (low <= value)) or value > high:
            bound = f"above {low:g}" if above else f"{low:g}"
            raise argparse.ArgumentTypeError(f"{value:g} is out of range ({bound} to {high:g})")
        return value

    return parse


_port = _ranged(int, 0, 65535, "a port number")


def _duration(text: str) -> float:
    """Seconds from "90s", "15m", "36h", "7d" (a plain number is seconds)."""
    from callmon import durations

    try:
        return durations.parse(text)
    except durations.DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _burst(text: str) -> Any:
    from callmon.simulator import Burst

    if text.strip().lower() == "off":
        return None
    try:
        return Burst.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_count = _ranged(int, 1, 1_000_000, "a whole number")
_speed = _ranged(float, 0, 1000, "a number", above=True)


def main(argv: Sequence[str] | None = None) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry full URLs
    redact.install_log_filter()
    try:
        parser = build_parser()
        words = list(sys.argv[1:] if argv is None else argv)
        args = parser.parse_args(_with_command(words))
        return _dispatch(args)
    except UsageError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (credentials.CredentialError, FileError, PortTaken) as exc:
        return _fail(str(exc), EXIT_RUNTIME)
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:  # nothing unexpected may print a traceback (with whatever it holds)
        from callmon.crash import report

        print(report(exc), file=sys.stderr)
        return EXIT_RUNTIME


def _with_command(words: list[str]) -> list[str]:
    """`callmon [monitor options]` is the monitor: `callmon --fps 2 --colors 256`, `callmon --filter X`."""
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word in ("-h", "--help", "--version") or word in _COMMANDS:
            return words
        if word in _VALUED:
            skip = True
        elif not word.startswith("-"):
            return words  # not a command: argparse says so
    return ["monitor", *words]


def _fail(message: str, code: int) -> int:
    print(f"callmon: {message}", file=sys.stderr)
    return code


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command == "watch":
        return _watch(args)
    if command == "config":
        return _config(args)
    if command == "sources":
        return _sources(args)
    if command == "simulate":
        return _simulate(args)
    if command == "auth":
        return _auth(args)
    if command in ("monitor", "demo"):
        return _monitor(args, demo=command == "demo")
    if command == "history":
        return _history(args)
    if command == "serve":
        return _serve(args)
    if command == "team":
        return _team_status(args)
    raise UsageError(f"`callmon {command}` is not available in this build yet")


def _load(args: argparse.Namespace) -> Config:
    return config.load(config.resolve_path(args.config))


def _load_for_team(args: argparse.Namespace) -> Config:
    """The config; with --team a viewer needs none (no file is fine, the defaults apply)."""
    path = config.resolve_path(args.config)
    if getattr(args, "team", None) and not args.config and not path.exists():
        return Config(path=None)
    return config.load(path)


def _team_of(args: argparse.Namespace, cfg: Config | None) -> TeamSettings | None:
    """--team URL (over [team] url), or [team] in the config, or None: not in team mode."""
    url = getattr(args, "team", None)
    base = cfg.team if cfg is not None else None
    if not url:
        return base
    try:
        check_url(url)
    except TeamUrlError as exc:
        raise UsageError(f"--team: {exc}") from None
    from dataclasses import replace

    return replace(base, url=url) if base is not None else TeamSettings(url)


def _team_password() -> str | None:
    """CALLMON_TEAM_PASSWORD, else the keyring's (`callmon auth set team`), else none."""
    try:
        found = credentials.lookup(PASSWORD_SOURCE, PASSWORD_FIELD, keyring=credentials.default_keyring())
    except credentials.CredentialError:
        found = None  # no keyring here: the environment was the only place, and the engine may need none
    return found[0] if found else None


def _selected(cfg: Config, names: list[str] | None) -> Config:
    if not names:
        if not cfg.sources:
            raise ConfigError(f"{cfg.path}: no [[sources]] configured (see `callmon config init`)")
        return cfg
    from dataclasses import replace

    return replace(cfg, sources=tuple(cfg.source(n) for n in names))


def _watch(args: argparse.Namespace) -> int:
    try:
        query = compile_query(args.filter)
    except QueryError as exc:
        raise UsageError(f"--filter: {exc}") from None
    fmt = args.format or ("table" if args.once else "ndjson")
    if args.raw and fmt not in ("json", "ndjson"):
        raise UsageError("--raw goes with --format json or ndjson")
    if not args.once and fmt == "json":
        raise UsageError("--format json is one array, so it needs --once; stream with --format ndjson")
    if args.metrics and args.once:
        raise UsageError("--metrics serves while watch streams: drop --once (or scrape a running monitor)")
    if args.group_by and not args.once:
        raise UsageError("--group-by goes with --once (the monitor's g key shows groups live)")
    if args.group_by and args.raw:
        raise UsageError("--raw prints calls' payloads; --group-by prints groups")
    if args.alerts:
        if args.once:
            raise UsageError("--alerts is a stream (alerts fire and clear over time): drop --once")
        if args.format not in (None, "ndjson") or args.raw or args.group_by:
            raise UsageError(
                "--alerts prints ndjson lines of alerts: no --format, --raw or --group-by with it"
            )
    if args.demo:
        from callmon.demo import DEMO_BURST, demo_alerts, make_demo
        from callmon.simulator import Burst

        _configure_people(args, None)
        # With --alerts, the demo's failure burst too: something to alert on.
        demo = make_demo(burst=Burst.parse(DEMO_BURST) if args.alerts else None)
        pairs = [(s, demo.secrets[s.name]) for s in demo.sources if not args.source or s.name in args.source]
        if args.source and len(pairs) != len(set(args.source)):
            known = ", ".join(s.name for s in demo.sources)
            raise UsageError(f"--source: the demo's sources are {known}")
        if not args.once:
            rules = demo_alerts() if args.alerts else ()
            return asyncio.run(
                _watch_stream(
                    pairs,
                    [],
                    query,
                    fmt,
                    args.raw,
                    demo.transport(),
                    None,
                    alerts=rules,
                    metrics=_metrics_config(args, None),
                )
            )
        return asyncio.run(
            _watch_once(
                pairs, [], query, fmt, args.raw, demo.transport(), args.max_time, group_by=args.group_by
            )
        )
    if args.since is not None and not args.once:
        raise UsageError("--since goes with --once (a stream prints what changes from now on)")
    loaded = _load_for_team(args)
    team = _team_of(args, loaded)
    if team is not None:
        if args.source:
            raise UsageError("--source does not apply to a team viewer: use --filter source:NAME")
        if args.alerts and not loaded.alerts:
            raise UsageError(
                f"--alerts: {loaded.path} has no [[alerts]] rules (see the README's Alerts section)"
            )
        _configure_people(args, loaded)
        return asyncio.run(
            _watch_team(
                team,
                loaded,
                query,
                fmt,
                args.raw,
                once=args.once,
                group_by=args.group_by,
                alerts=loaded.alerts if args.alerts else (),
                metrics=_metrics_config(args, loaded),
            )
        )
    cfg = _selected(loaded, args.source)
    _configure_people(args, cfg)
    found, missing = credentials.resolve_all(cfg.sources)
    wanted = {source.name: ADAPTERS[source.provider].secret_fields for source in cfg.sources}
    pairs = [(source, secrets) for source, secrets in found if all(f in secrets for f in wanted[source.name])]
    if args.alerts and not cfg.alerts:
        raise UsageError(f"--alerts: {cfg.path} has no [[alerts]] rules (see the README's Alerts section)")
    if not args.once:
        from callmon.history import default_path

        return asyncio.run(
            _watch_stream(
                pairs,
                missing,
                query,
                fmt,
                args.raw,
                None,
                (default_path(), cfg),
                alerts=cfg.alerts if args.alerts else (),
            )
        )
    return asyncio.run(
        _watch_once(
            pairs,
            missing,
            query,
            fmt,
            args.raw,
            None,
            args.max_time,
            since=args.since,
            cfg=cfg,
            group_by=args.group_by,
        )
    )


async def _watch_once(
    pairs: list[tuple[Source, dict[str, str]]],
    problems: list[str],
    query: Query,
    fmt: str,
    raw: bool,
    transport: httpx.AsyncBaseTransport | None,
    max_time: float = DEFAULT_MAX_TIME,
    *,
    since: float | None = None,
    cfg: Config | None = None,
    group_by: str | None = None,
) -> int:
    from callmon.engine.once import dedupe, poll_all

    for problem in problems:
        print(f"callmon: {problem}", file=sys.stderr)
    async with httpx.AsyncClient(
        transport=transport, headers={"User-Agent": f"callmon/{__version__}"}
    ) as client:
        results = await poll_all(pairs, client, max_time=max_time)
    calls = [] if since is None or cfg is None else await _from_history(cfg, query, since)
    failed = bool(problems)
    for result in results:
        name = result.source.name
        if result.error:
            print(f"callmon: source {name!r}: {result.error}", file=sys.stderr)
            failed = True
        if result.cut_short:
            print(f"callmon: source {name!r}: cut short: {result.cut_short}", file=sys.stderr)
            failed = True
        if result.skipped:
            print(
                f"callmon: source {name!r}: {result.skipped:,} unreadable record(s) skipped: {result.skip_reason}",
                file=sys.stderr,
            )
        calls.extend(result.calls)
    shown = [c for c in dedupe(calls) if query(c)]
    _print_once(shown, fmt, raw=raw, group_by=group_by)
    return EXIT_RUNTIME if failed else EXIT_OK


def _print_once(shown: list[Call], fmt: str, *, raw: bool, group_by: str | None) -> None:
    """What `watch --once` prints: the calls, or their totals by `group_by`."""
    if group_by is not None:
        import time

        from callmon.measures import Groups

        groups = Groups(group_by)
        now = time.time()
        groups.build(shown, now)
        _write(output.render_groups(groups, fmt, now))
    else:
        _write(output.render(shown, fmt, raw=raw))


async def _from_history(cfg: Config, query: Query, since: float) -> list[Call]:
    """The calls history holds from `since` seconds back that the filter matches, oldest first: what
    `watch --once --since` prints beside what the providers answer now (which wins for a call in both)."""
    import time

    from callmon.history import History, HistoryError, default_path

    if not default_path().exists():
        return []
    history = History(default_path(), retention_days=cfg.retention_days)
    try:
        history.open()
        cutoff = time.time() - since
        found = await history.search(query, [s.name for s in cfg.sources], limit=10**9)
        return [c for c in reversed(found.calls) if c.first_seen >= cutoff]
    except HistoryError as exc:
        print(f"callmon: {exc}", file=sys.stderr)
        return []
    finally:
        history.close()


def _write(text: str) -> None:
    """Write to stdout; a reader that went away (`callmon watch --once | head`) is not an error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        import os

        # Python would complain again at exit, flushing the dead pipe: point stdout at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


async def _watch_team(
    team: TeamSettings,
    cfg: Config,
    query: Query,
    fmt: str,
    raw: bool,
    *,
    once: bool,
    group_by: str | None = None,
    alerts: Sequence[Rule] = (),
    metrics: Any = None,
) -> int:
    """watch --team: the engine's calls, once (a snapshot) or as a stream of changes (or of alerts)."""
    from callmon.runtime import team_history_path, team_session

    password = _team_password()
    if not once:

        def opener(notice: Callable[[str], None]) -> AbstractAsyncContextManager[Session]:
            return team_session(
                team, password, history_path=team_history_path(team), retention_days=cfg.retention_days,
                tick_hz=cfg.tick_hz, on_notice=notice, alerts=alerts, metrics=metrics,
            )  # fmt: skip

        return await _watch_stream([], [], query, fmt, raw, None, None, opener=opener, alerts=alerts)
    from callmon.store import CallStore
    from callmon.team.connect import EngineError
    from callmon.team.viewer import TeamFeed

    feed = TeamFeed(team, password, CallStore(), on_notice=lambda _: None)
    try:
        await feed.start()
    except EngineError as exc:
        print(f"callmon: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    try:
        if not feed.reachable:
            print(f"callmon: {feed.problem}", file=sys.stderr)
            return EXIT_RUNTIME
        calls = sorted(feed.store.calls.values(), key=lambda c: (c.first_seen, c.source, c.call_id))
        _print_once([c for c in calls if query(c)], fmt, raw=raw, group_by=group_by)
    finally:
        await feed.stop()
    return EXIT_OK


async def _watch_stream(
    pairs: list[tuple[Source, dict[str, str]]],
    problems: list[str],
    query: Query,
    fmt: str,
    raw: bool,
    transport: httpx.AsyncBaseTransport | None,
    history: tuple[Path, Config] | None,
    *,
    alerts: Sequence[Rule] = (),
    metrics: Any = None,
    opener: Callable[[Callable[[str], None]], AbstractAsyncContextManager[Session]] | None = None,
) -> int:
    """Print one line per change until Ctrl-C (or SIGTERM), then exit 0 with history flushed. With alert
    rules: one ndjson line per alert that fires or clears, instead of the calls."""
    import signal

    from callmon.alerts import AlertEvent
    from callmon.runtime import live_session
    from callmon.store import Change

    def notice(message: str) -> None:
        print(f"callmon: {message}", file=sys.stderr, flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if not alerts:
        sys.stdout.write(output.header(fmt))

    def alerted(events: list[AlertEvent]) -> None:
        try:
            sys.stdout.write("".join(output.alert_line(e) for e in events))
            sys.stdout.flush()
        except BrokenPipeError:
            stop.set()

    def emit(batch: list[Change]) -> None:
        # Calls read back from history are what was printed before: not printed again as changes.
        shown = [c.call for c in batch if c.kind != "loaded" and query(c.call)]
        if not shown:
            return
        try:
            sys.stdout.write(output.stream_lines(shown, fmt, raw=raw))
            sys.stdout.flush()
        except BrokenPipeError:
            stop.set()  # `callmon watch | head`: the reader is gone; stop quietly

    session_cm = (
        opener(notice)
        if opener is not None
        else live_session(
            pairs,
            problems=problems,
            transport=transport,
            history_path=history[0] if history else None,
            retention_days=history[1].retention_days if history else 7.0,
            tick_hz=history[1].tick_hz if history else 4.0,
            on_notice=notice,
            webhooks=history[1].webhooks if history else None,
            window=history[1].window if history else None,
            alerts=alerts,
            metrics=metrics,
        )
    )
    async with session_cm as session:
        for problem in session.problems:
            notice(problem)
        if session.metrics_url:
            notice(f"serving /metrics and /healthz on {session.metrics_url}")
        if session.alerts is not None:
            session.alerts.subscribe(alerted)
        else:
            session.store.subscribe(emit)
        reported: dict[str, str] = {}
        said: str | None = None
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
            status = session.engine.status()
            if opener is not None and status and status.startswith("team: engine") and status != said:
                notice(status)  # only the engine's trouble: the leaders' line is for the monitor's header
            said = status
            for health in session.engine.health():
                line = f"source {health.name!r}: {health.state}: {health.message}" if health.message else ""
                if line and reported.get(health.name) != line:
                    notice(line)
                reported[health.name] = line
    return EXIT_OK


def _monitor(args: argparse.Namespace, *, demo: bool) -> int:
    """The live monitor, on configured sources or on the in-process simulator."""
    import platformdirs

    team: TeamSettings | None = None
    cfg: Config | None = None
    if not demo:
        cfg = _load_for_team(args)
        team = _team_of(args, cfg)
        if team is None:
            cfg = _selected(cfg, getattr(args, "source", None))
        elif getattr(args, "source", None):
            raise UsageError("--source does not apply to a team viewer: use --filter source:NAME")
    flt = args.filter if hasattr(args, "filter") and args.filter else ""
    try:
        compile_query(flt)
    except QueryError as exc:
        raise UsageError(f"--filter: {exc}") from None
    if cfg is None and team is None:
        from callmon.demo import make_demo

        try:
            world = make_demo(seed=args.seed, calls=args.calls, speed=args.speed, burst=args.burst)
        except ValueError as exc:
            raise UsageError(f"--burst: {exc}") from None
    fps = _apply_display(args, cfg)  # before anything imports Textual, after every usage error

    from callmon.runtime import live_session
    from callmon.tui.app import CallmonApp, Opener
    from callmon.tui.monitor import Settings

    recent = Path(platformdirs.user_data_dir("callmon")) / "recent-filters.json"
    resolve: Callable[[str], dict[str, str]] | None = None
    if cfg is None:
        from callmon.demo import demo_alerts

        pairs = [(s, world.secrets[s.name]) for s in world.sources]
        rules = demo_alerts()
        metrics = _metrics_config(args, None)

        def opener(notice: Callable[[str], None]) -> AbstractAsyncContextManager[Session]:
            return live_session(
                pairs,
                transport=world.transport(),
                on_notice=notice,
                tick_hz=min(4.0, fps or 4.0),
                alerts=rules,
                metrics=metrics,
            )

        title = f"callmon demo · simulator, {args.calls} calls, seed {args.seed}"
        settings = Settings(initial_filter=flt)
    elif team is not None:
        from callmon.runtime import team_history_path, team_session

        team_settings, team_config, password = team, cfg, _team_password()

        team_metrics = _metrics_config(args, team_config)

        def opener(notice: Callable[[str], None]) -> AbstractAsyncContextManager[Session]:
            return team_session(
                team_settings,
                password,
                history_path=team_history_path(team_settings),
                retention_days=team_config.retention_days,
                tick_hz=min(team_config.tick_hz, fps or team_config.tick_hz),
                on_notice=notice,
                alerts=team_config.alerts,
                metrics=team_metrics,
            )

        title = f"callmon · team {team.shown}"
        settings = Settings(
            initial_filter=flt,
            columns=cfg.columns or Settings().columns,
            bell=cfg.alerting.bell,
            desktop=cfg.alerting.desktop,
        )
    else:
        from callmon.history import default_path

        config_ = cfg
        # A source with a secret missing is still shown: "no credentials" in the header, and K in the monitor
        # sets the secret.
        ready, problems = credentials.resolve_all(config_.sources)
        metrics = _metrics_config(args, config_)
        if not flt:
            defaults = {s.filter for s, _ in ready if s.filter}
            flt = defaults.pop() if len(defaults) == 1 else ""

        def opener(notice: Callable[[str], None]) -> AbstractAsyncContextManager[Session]:
            return live_session(
                ready,
                problems=problems,
                history_path=default_path(),
                retention_days=config_.retention_days,
                tick_hz=min(config_.tick_hz, fps or config_.tick_hz),
                on_notice=notice,
                webhooks=config_.webhooks,
                window=config_.window,
                alerts=config_.alerts,
                metrics=metrics,
            )

        def resolve(name: str) -> dict[str, str]:
            secrets, _ = credentials.resolve_partly(config_.source(name))
            return secrets

        title = f"callmon · {config_.path}"
        settings = Settings(
            initial_filter=flt,
            columns=config_.columns or Settings().columns,
            bell=config_.alerting.bell,
            desktop=config_.alerting.desktop,
        )
    typed_opener: Opener = opener
    app = CallmonApp(
        typed_opener,
        title=title,
        recent_path=recent,
        settings=settings,
        config_path=None if cfg is None else cfg.path,
        resolve_secrets=resolve,
    )
    app.run()
    return EXIT_RUNTIME if app.return_code else EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    """`callmon serve`: a team collector for the configured sources that have their secrets."""
    cfg = _load(args)
    team = _team_of(args, cfg)
    if team is None:
        raise ConfigError(
            f'{cfg.path}: `callmon serve` needs a [team] table (url = "redis://HOST:PORT") or --team URL'
        )
    cfg = _selected(cfg, args.source)
    from callmon.team import service

    service.setup_logging()
    found, problems = credentials.resolve_all(cfg.sources)
    pairs = []
    for source, secrets in found:
        if all(f in secrets for f in ADAPTERS[source.provider].secret_fields):
            pairs.append((source, secrets))
    for problem in problems:
        print(f"callmon serve: {problem}; not collected here", file=sys.stderr)
    if not pairs:
        raise ConfigError(f"{cfg.path}: no source has its secrets here: nothing to collect")

    def resolve(source: Source) -> dict[str, str]:
        secrets, _ = credentials.resolve_partly(source)
        return secrets

    return asyncio.run(
        service.run(
            team,
            _team_password(),
            pairs,
            webhooks=cfg.webhooks,
            retention_days=cfg.retention_days,
            tick_hz=cfg.tick_hz,
            resolve=resolve,
        )
    )


def _team_status(args: argparse.Namespace) -> int:
    cfg = _load_for_team(args)
    team = _team_of(args, cfg)
    if team is None:
        raise ConfigError(f"{cfg.path}: no [team] table in the config: give --team URL")
    from callmon.team.connect import EngineError
    from callmon.team.status import report

    try:
        lines, warnings = asyncio.run(report(team, _team_password()))
    except EngineError as exc:
        return _fail(str(exc), EXIT_RUNTIME)
    print("\n".join(lines))
    for warning in warnings:
        print(f"callmon: warning: {warning}", file=sys.stderr)
    return EXIT_OK


def _auth_team(args: argparse.Namespace, keyring: credentials.Keyring) -> int:
    """`callmon auth set|delete team`: the team engine's password, in the keyring as `team:password`."""
    if args.field not in (None, PASSWORD_FIELD):
        raise UsageError("the team engine has one secret: its password (`callmon auth set team`)")
    if args.auth_command == "delete":
        gone = keyring.delete(PASSWORD_SOURCE, PASSWORD_FIELD)
        print(f"team password: {'deleted from' if gone else 'was not in'} the OS keyring")
        return EXIT_OK
    if args.extra:
        raise UsageError(
            "never put a secret on the command line (shell history, ps); "
            "run without it to be prompted, or pipe it with --stdin"
        )
    secret = _read_secret("the team engine", PASSWORD_FIELD, from_stdin=args.stdin)
    keyring.set(PASSWORD_SOURCE, PASSWORD_FIELD, secret)
    print(f"stored the team engine's password in the OS keyring ({keyring.name})")
    if credentials.from_env(PASSWORD_SOURCE, PASSWORD_FIELD):
        print("note: CALLMON_TEAM_PASSWORD is set and wins over the keyring", file=sys.stderr)
    return EXIT_OK


def _auth(args: argparse.Namespace) -> int:
    from callmon.providers import ADAPTERS

    keyring = credentials.default_keyring()
    if args.auth_command != "status" and args.source == PASSWORD_SOURCE:
        return _auth_team(args, keyring)
    cfg = _load(args)
    if args.auth_command == "status":
        return _auth_status(cfg, keyring)
    source = cfg.source(args.source)
    fields = ADAPTERS[source.provider].secret_fields
    if args.field is not None and args.field not in fields:
        # Not quoted back: a user who typed the secret itself here would see it again, in the terminal's scroll.
        raise UsageError(
            f"{source.provider} sources have no secret by that name (theirs: {', '.join(fields)}); "
            "never put the secret itself on the command line: run without it to be prompted, or pipe it with --stdin"
        )
    chosen = [args.field] if args.field else list(fields)
    if args.auth_command == "delete":
        for field in chosen:
            gone = keyring.delete(source.name, field)
            print(f"{source.name} {field}: {'deleted from' if gone else 'was not in'} the OS keyring")
        return EXIT_OK
    if args.extra:
        raise UsageError(
            "never put a secret on the command line (shell history, ps); "
            "run without it to be prompted, or pipe it with --stdin"
        )
    if len(chosen) != 1:
        raise UsageError(f"name the secret to set: {', '.join(chosen)}")
    field = chosen[0]
    secret = _read_secret(source.name, field, from_stdin=args.stdin)
    keyring.set(source.name, field, secret)
    print(f"stored {field} for {source.name!r} in the OS keyring ({keyring.name})")
    if credentials.from_env(source.name, field):
        print(
            f"note: {config.env_name(source.name, field)} is set and wins over the keyring", file=sys.stderr
        )
    return EXIT_OK


def _read_secret(source: str, field: str, *, from_stdin: bool) -> str:
    import getpass

    if from_stdin:
        secret = sys.stdin.read().rstrip("\r\n")
    elif sys.stdin.isatty():
        secret = getpass.getpass(f"{field} for {source} (not shown): ")
    else:
        raise UsageError("standard input is not a terminal: pass --stdin to read the secret from it")
    if not secret.strip():
        raise UsageError(f"empty {field}: nothing stored")
    if any(ch in secret for ch in "\r\n"):
        raise UsageError(f"{field} spans several lines: give one secret, on one line")
    return secret


def _auth_status(cfg: Config, keyring: credentials.Keyring) -> int:
    from callmon.providers import ADAPTERS

    try:
        backend: str | None = keyring.name
        print(f"OS keyring: {backend}")
    except credentials.CredentialError as exc:
        backend = None
        print(f"OS keyring: unavailable: {exc}")
    if cfg.team is not None:
        try:
            found_team = credentials.lookup(
                PASSWORD_SOURCE, PASSWORD_FIELD, keyring=keyring if backend is not None else None
            )
            where_team = f"present ({found_team[1]})" if found_team else "none (the engine may need none)"
        except credentials.CredentialError as exc:
            where_team = f"unknown ({exc})"
        print(f"team\t{PASSWORD_FIELD}\t{where_team}")
    if not cfg.sources:
        print(f"no sources in {cfg.path}")
    for source in cfg.sources:
        for field in ADAPTERS[source.provider].secret_fields:
            try:
                found = credentials.lookup(
                    source.name, field, keyring=keyring if backend is not None else None
                )
            except credentials.CredentialError as exc:
                print(f"{source.name}\t{field}\tunknown ({exc})")
                continue
            where = f"present ({found[1]})" if found else f"missing: callmon auth set {source.name} {field}"
            print(f"{source.name}\t{field}\t{where}")
    return EXIT_OK


def _simulate(args: argparse.Namespace) -> int:
    from callmon.serve import bind, url_of
    from callmon.simulator import FaultSpecError, parse_faults

    try:
        faults = parse_faults(args.faults)
    except FaultSpecError as exc:
        raise UsageError(f"--faults: {exc}") from None
    from callmon.providers import pushing

    pushes = {}
    can_push = sorted(pushing())
    for spec in args.push:
        provider, _, url = spec.partition("=")
        if provider not in can_push or not url.startswith(("http://", "https://")):
            raise UsageError(
                f"--push {spec!r}: give PROVIDER=URL (one of {', '.join(can_push)}; an http(s) URL)"
            )
        pushes[provider] = url
    args.pushes = pushes
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"callmon: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_RUNTIME
    return asyncio.run(_run_simulator(sock, url_of(sock), faults, args))


async def _run_simulator(
    sock: socket.socket, url: str, faults: dict[str, Any], args: argparse.Namespace
) -> int:
    from callmon.serve import serving
    from callmon.simulator import Clock, Scenario, Simulator, build_app, config_text

    try:
        scenario = Scenario(seed=args.seed, calls=args.calls, clock=Clock(speed=args.speed), burst=args.burst)
    except ValueError as exc:
        raise UsageError(f"--burst: {exc}") from None
    sim = Simulator(scenario, faults=faults, pushes=args.pushes)
    async with serving(build_app(sim), sock), httpx.AsyncClient() as client:
        pusher = asyncio.create_task(sim.run_pushes(client)) if sim.pushes else None
        sys.stdout.write(config_text(scenario, url))
        print(
            f"# simulator listening on {url} ({args.calls} calls, seed {args.seed}); Ctrl-C stops it",
            flush=True,
        )
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        if pusher is not None:
            pusher.cancel()
    return EXIT_OK


def _config(args: argparse.Namespace) -> int:
    path = config.resolve_path(args.config)
    if args.config_command == "path":
        print(path)
        return EXIT_OK
    if args.config_command == "init":
        if path.exists() and not args.force:
            raise UsageError(f"{path} exists already (use --force to overwrite)")
        from callmon.files import write_private

        write_private(path, config.example())
        print(f"wrote {path}: uncomment a [[sources]] block in it, then run `callmon config check`")
        return EXIT_OK
    cfg = config.load(path)
    if not cfg.sources:
        print(
            f"{path}: ok, but no [[sources]] yet: uncomment one of its examples (or add one) to watch calls"
        )
    else:
        print(f"{path}: ok, {len(cfg.sources)} source(s)")
    if cfg.alerts:
        from callmon.alerts import describe
        from callmon.text import clean

        print(f"{len(cfg.alerts)} alert(s):")
        for rule in cfg.alerts:
            print(f"  {clean(rule.name)}: {clean(describe(rule))}")
    if cfg.metrics.listen:
        print(f"metrics: /metrics and /healthz on http://{cfg.metrics.listen}")
    return EXIT_OK


def _history(args: argparse.Namespace) -> int:
    import os
    import time

    from callmon.history import History, HistoryError, default_path

    cfg = _load(args)
    path = default_path()
    if not path.exists():
        print(f"no history yet at {path}")
        return EXIT_OK
    retention = cfg.retention_days if getattr(args, "older_than", None) is None else args.older_than / 86400
    history = History(path, retention_days=retention)
    try:
        history.open()
    except HistoryError as exc:
        raise UsageError(str(exc)) from None
    try:
        if args.history_command == "prune":
            history.prune_now()
        stats = history.stats()
    finally:
        history.close()
    size = sum(os.path.getsize(p) for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    if args.history_command == "prune":
        print(f"{path}: pruned {history.pruned:,} calls older than {retention:g} days; {stats.rows:,} left")
        return EXIT_OK
    print(f"history: {path}")
    print(f"size:    {size / 1024 / 1024:,.1f} MiB")
    print(
        f"calls:   {stats.rows:,}" + (" (read-only: another callmon writes it)" if history.read_only else "")
    )
    if stats.oldest is not None:
        ago = (time.time() - stats.oldest) / 86400
        print(f"oldest:  first seen {ago:.1f} days ago (kept {cfg.retention_days:g} days: retention_days)")
    for source, count in stats.per_source:
        print(f"  {source}\t{count:,}")
    return EXIT_OK


def _sources(args: argparse.Namespace) -> int:
    from callmon.providers import ADAPTERS, pushing
    from callmon.webhooks import hook_path, load_key

    cfg = _load(args)
    key: bytes | None = None
    if cfg.webhooks.listen:
        print(
            f"webhook receiver: listens on {cfg.webhooks.listen}"
            + (f", providers are told {cfg.webhooks.public_url}" if cfg.webhooks.public_url else "")
        )
        try:
            key = load_key()
        except FileError as exc:
            print(f"webhook receiver: no hook URLs: {exc}")
    if not cfg.sources:
        print(f"no sources in {cfg.path}")
        return EXIT_OK
    for source in cfg.sources:
        adapter = ADAPTERS[source.provider]
        secrets = []
        for field in adapter.secret_fields:
            try:
                found = credentials.lookup(source.name, field, keyring=credentials.default_keyring())
                state = f"present ({found[1]})" if found else "missing"
            except credentials.CredentialError:
                state = "env: missing, keyring: unavailable"
            secrets.append(f"{field}: {state}")
        url = source.base_url or adapter.default_base_url
        line = f"{source.name}\t{adapter.title}\t{url}\t{' '.join(secrets)}"
        if key is not None and source.provider in pushing():
            base = cfg.webhooks.public_url or f"http://{cfg.webhooks.listen}"
            line += f"\thook {base.rstrip('/')}{hook_path(key, source.name)}"
        print(line)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
