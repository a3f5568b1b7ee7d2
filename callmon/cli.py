"""The `callmon` command line. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from callmon import __version__, config, credentials, output
from callmon.config import Config, ConfigError
from callmon.query import QueryError, compile_query

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


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

    monitor = sub.add_parser("monitor", help="the live monitor on configured sources (the default)")
    monitor.add_argument("--filter", metavar="QUERY", help="start with this filter")
    monitor.add_argument("--source", action="append", metavar="NAME", help="only this source (repeatable)")

    demo = sub.add_parser("demo", help="the live monitor on the built-in simulator")
    demo.add_argument("--filter", metavar="QUERY", help="start with this filter")
    demo.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    demo.add_argument("--calls", type=int, default=300, help="calls in the demo campaigns (default 300)")
    demo.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")

    watch = sub.add_parser("watch", help="print calls to stdout (a stream, or --once a snapshot)")
    watch.add_argument("--once", action="store_true", help="poll every source once, print, exit")
    watch.add_argument("--format", choices=output.FORMATS, default=None, help="table (default with --once) …")
    watch.add_argument("--filter", metavar="QUERY", help="only calls matching QUERY")
    watch.add_argument("--source", action="append", metavar="NAME", help="only this source (repeatable)")
    watch.add_argument("--raw", action="store_true", help="include the provider's raw payload (json/ndjson)")
    watch.add_argument("--demo", action="store_true", help="watch the built-in simulator instead of config")

    sub.add_parser("sources", help="list configured sources and whether their secrets are set")

    cfg = sub.add_parser("config", help="where the config is, a commented example, a check")
    cfg_sub = cfg.add_subparsers(dest="config_command", parser_class=_Parser, required=True)
    cfg_sub.add_parser("path", help="print the config file path in use")
    init = cfg_sub.add_parser("init", help="write a commented example config")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    cfg_sub.add_parser("check", help="validate the config file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry full URLs
    try:
        args = build_parser().parse_args(argv)
        return _dispatch(args)
    except UsageError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return EXIT_OK


def _fail(message: str, code: int) -> int:
    print(f"callmon: {message}", file=sys.stderr)
    return code


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command or "monitor"
    if command == "watch":
        return _watch(args)
    if command == "config":
        return _config(args)
    if command == "sources":
        return _sources(args)
    raise UsageError(f"`callmon {command}` is not available in this build yet")


def _load(args: argparse.Namespace) -> Config:
    return config.load(config.resolve_path(args.config))


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
    if args.demo:
        raise UsageError("--demo needs the simulator, which is not in this build yet")
    cfg = _selected(_load(args), args.source)
    fmt = args.format or ("table" if args.once else "ndjson")
    if not args.once:
        raise UsageError("only --once is available in this build yet")
    if args.raw and fmt not in ("json", "ndjson"):
        raise UsageError("--raw goes with --format json or ndjson")
    return asyncio.run(_watch_once(cfg, query, fmt, args.raw))


async def _watch_once(cfg: Config, query: object, fmt: str, raw: bool) -> int:
    import httpx

    from callmon.engine.once import dedupe, poll_all

    runnable = []
    failed = False
    for source in cfg.sources:
        try:
            runnable.append((source, credentials.resolve(source)))
        except credentials.MissingSecret as exc:
            print(f"callmon: {exc}", file=sys.stderr)
            failed = True
    async with httpx.AsyncClient(headers={"User-Agent": f"callmon/{__version__}"}) as client:
        results = await poll_all(runnable, client)
    calls = []
    for result in results:
        if result.error:
            print(f"callmon: source {result.source.name!r}: {result.error}", file=sys.stderr)
            failed = True
        calls.extend(result.calls)
    assert callable(query)
    shown = [c for c in dedupe(calls) if query(c)]
    sys.stdout.write(output.render(shown, fmt, raw=raw))
    return EXIT_RUNTIME if failed else EXIT_OK


def _config(args: argparse.Namespace) -> int:
    path = config.resolve_path(args.config)
    if args.config_command == "path":
        print(path)
        return EXIT_OK
    if args.config_command == "init":
        if path.exists() and not args.force:
            raise UsageError(f"{path} exists already (use --force to overwrite)")
        _write_private(path, config.EXAMPLE)
        print(f"wrote {path}")
        return EXIT_OK
    cfg = config.load(path)
    print(f"{path}: ok, {len(cfg.sources)} source(s)")
    return EXIT_OK


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


def _sources(args: argparse.Namespace) -> int:
    from callmon.providers import ADAPTERS

    cfg = _load(args)
    if not cfg.sources:
        print(f"no sources in {cfg.path}")
        return EXIT_OK
    for source in cfg.sources:
        adapter = ADAPTERS[source.provider]
        secrets = []
        for field in adapter.secret_fields:
            found = credentials.lookup(source.name, field)
            secrets.append(f"{field}={'set (env)' if found else 'missing'}")
        url = source.base_url or adapter.default_base_url
        print(f"{source.name}\t{adapter.title}\t{url}\t{' '.join(secrets)}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
