"""Mutation testing against the fast tier (tests/unit): would a wrong line or a wrong table entry pass CI?

    python scripts/mutation.py                      # callmon/providers/*.py, query.py, engine/budget.py
    python scripts/mutation.py callmon/query.py callmon/engine/budget.py
    python scripts/mutation.py --only tables callmon/providers/vobiz.py

Two kinds of mutants, each run against tests/unit:
- mutmut's (3.x), inside functions and methods: operators, comparisons, constants, arguments, ...;
- edits of the tables a module defines at import (dict, set, list and tuple literals at module or class
  level, and numeric constants), which mutmut leaves alone: each entry deleted, each dict value replaced by
  the next different value of the same dict, each number shifted by +1 and -1, each bool flipped.

Everything runs in a throwaway copy of the tree (tracked files and untracked ones git does not ignore), so
the tree is never modified, whatever happens (Ctrl-C included). Prints the score per module (killed / all;
a mutant no test runs counts as survived) and every survivor. Needs the `mutation` extra
(`pip install -e '.[test,mutation]'`). Slow: not run in CI.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import copy
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODULES = ("callmon/providers/*.py", "callmon/query.py", "callmon/engine/budget.py")
TESTS = "tests/unit"
# What a mutmut status means for the score; any other (not checked, interrupted) means the run was cut short.
KILLED = {"killed", "timeout", "caught by type check", "segfault"}
SURVIVED = {"survived", "no tests", "suspicious"}
SKIPPED_NAMES = {"__all__"}  # only star-imports read it
LONG = 110
TIMED_OUT = -1


@dataclass
class Mutant:
    module: str
    name: str  # mutmut's name, or the table and what was done to it
    status: str = "not checked"
    line: int = 0
    diff: str = ""


@dataclass
class Module:
    path: str
    mutmut: list[Mutant] = field(default_factory=list)
    tables: list[Mutant] = field(default_factory=list)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"paths or globs (default: {' '.join(DEFAULT_MODULES)})")
    parser.add_argument("--only", choices=("mutmut", "tables"), help="run one kind of mutant only")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="mutants tested at once")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the copy (to `mutmut browse` in it)")
    args = parser.parse_args(argv)

    modules = expand(args.modules or list(DEFAULT_MODULES))
    if not modules:
        parser.error("no module matches")
    signal.signal(signal.SIGTERM, interrupted)
    work = Path(tempfile.mkdtemp(prefix="callmon-mutation-"))
    results = {path: Module(path) for path in modules}
    started = time.monotonic()
    try:
        copy_project(ROOT, work / "tree")
        check_imports_from(work / "tree")
        if args.only != "tables":
            run_mutmut(work / "tree", modules, args.jobs, results)
        if args.only != "mutmut":
            run_tables(work, modules, args.jobs, results)
    except KeyboardInterrupt:
        print("\ninterrupted: nothing in the tree was changed", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"kept: {work / 'tree'}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    report(list(results.values()), elapsed)
    if args.json:
        args.json.write_text(
            json.dumps(as_json(results.values(), elapsed), indent=2) + "\n", encoding="utf-8"
        )
    return 0


def interrupted(signum: int, frame: object) -> None:
    """SIGTERM (kill, a CI timeout) cleans up the way Ctrl-C does."""
    raise KeyboardInterrupt


def expand(patterns: list[str]) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        paths = sorted(ROOT.glob(pattern)) if any(c in pattern for c in "*?[") else [ROOT / pattern]
        for path in paths:
            if not path.is_file() or path.suffix != ".py":
                sys.exit(f"mutation: {pattern}: not a Python file under {ROOT}")
            relative = path.resolve().relative_to(ROOT).as_posix()
            if relative not in found:
                found.append(relative)
    return found


# -- the copy -------------------------------------------------------------------------------------------------


def project_files(root: Path) -> list[Path]:
    """What git sees of the tree (uncommitted edits and new files included), or everything but caches."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=True,
        ).stdout
        names = [Path(name) for name in listed.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
        names = [
            p.relative_to(root)
            for p in root.rglob("*")
            if p.is_file() and not skip.intersection(p.relative_to(root).parts)
        ]
    # A mutmut run made in the tree itself, and Hypothesis' cache, are not the project.
    return [n for n in names if n.parts[0] not in ("mutants", ".hypothesis") and (root / n).is_file()]


def copy_project(root: Path, dest: Path) -> None:
    for name in project_files(root):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, dest / name)


def check_imports_from(tree: Path) -> None:
    """Tests run in the copy must import the copy's callmon, not an installed one."""
    where = subprocess.run(
        [sys.executable, "-c", "import callmon; print(callmon.__file__)"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(where).resolve().is_relative_to(tree.resolve()):
        sys.exit(f"mutation: the copy imports callmon from {where}, not from itself")


# -- mutmut -----------------------------------------------------------------------------------------------------


def run_mutmut(tree: Path, modules: list[str], jobs: int, results: dict[str, Module]) -> None:
    configure_mutmut(tree / "pyproject.toml", modules)
    log = tree / "mutmut.log"
    print(f"mutmut: {len(modules)} module(s), {jobs} at once (log: {log.name} in the copy)", file=sys.stderr)
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)],
            cwd=tree,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        sys.exit(f"mutation: mutmut failed ({done.returncode}):\n{tail}")
    listing = mutmut(tree, "results", "--all", "true")
    dotted = {path.removesuffix(".py").replace("/", "."): path for path in modules}
    for line in listing.splitlines():
        match = re.match(r"\s*(\S+): (.+)$", line)
        if not match:
            continue
        name, status = match.groups()
        path = dotted.get(name.rsplit(".", 1)[0])
        if path is not None:
            results[path].mutmut.append(Mutant(path, name, status))
    for module in results.values():
        for mutant in module.mutmut:
            if mutant.status in SURVIVED:
                mutant.diff = changed_lines(mutmut(tree, "show", mutant.name))
            elif mutant.status not in KILLED:
                print(f"mutation: {mutant.name}: {mutant.status} (the run was cut short?)", file=sys.stderr)


def configure_mutmut(pyproject: Path, modules: list[str]) -> None:
    """The project's [tool.mutmut], with only_mutate narrowed to `modules`."""
    text = pyproject.read_text(encoding="utf-8")
    config: dict[str, Any] = tomllib.loads(text).get("tool", {}).get("mutmut", {})
    config["only_mutate"] = modules
    config.setdefault("source_paths", ["callmon/"])
    config.setdefault("pytest_add_cli_args_test_selection", [TESTS])
    # Drop the table (its header up to the next header), then append the narrowed one.
    text = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[)", "", text + "\n[end]\n").removesuffix("[end]\n")
    lines = [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    pyproject.write_text(text + "\n[tool.mutmut]\n" + "\n".join(lines) + "\n", encoding="utf-8")


def mutmut(tree: Path, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "mutmut", *args], cwd=tree, capture_output=True, text=True, check=True
    ).stdout


def changed_lines(diff: str) -> str:
    return "\n".join(
        line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )


# -- tables -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """One edit of one table: where it is (statement path), what it does, and how to say it."""

    where: tuple[int, ...]  # index in the module's body, then in a class's body
    apply: Callable[[ast.expr], ast.expr]
    describe: str
    line: int


def tables(tree: ast.Module) -> Iterator[tuple[tuple[int, ...], str, ast.expr]]:
    """(where, name, value) of each table or numeric constant assigned at module or class level."""

    def assigned(body: list[ast.stmt], where: tuple[int, ...], prefix: str) -> Iterator[Any]:
        for i, stmt in enumerate(body):
            if isinstance(stmt, ast.ClassDef):
                yield from assigned(stmt.body, (*where, i), f"{prefix}{stmt.name}.")
            elif isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
                target = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
                name = ast.unparse(target)
                if name not in SKIPPED_NAMES and (is_table(stmt.value) or is_number(stmt.value)):
                    yield (*where, i), prefix + name, stmt.value

    yield from assigned(tree.body, (), "")


def is_table(node: ast.expr) -> bool:
    if isinstance(node, ast.Dict | ast.Set | ast.List | ast.Tuple):
        return True
    # frozenset({...}), tuple([...]) and the like
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("frozenset", "set", "tuple", "list", "dict")
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Dict | ast.Set | ast.List | ast.Tuple)
    )


def is_number(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def literal(node: ast.expr) -> ast.Dict | ast.Set | ast.List | ast.Tuple:
    inner = node.args[0] if isinstance(node, ast.Call) else node
    assert isinstance(inner, ast.Dict | ast.Set | ast.List | ast.Tuple)
    return inner


def short(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 50 else text[:47] + "..."


def edits(source: str) -> list[Edit]:
    found: list[Edit] = []
    for where, name, value in tables(ast.parse(source)):
        if is_table(value):
            found.extend(entry_edits(where, name, value))
        # Numbers anywhere in it (a range's bounds, a budget's count), and bools.
        for path, node in constants(value, ()):
            label = entry_label(name, value, path)
            if type(node.value) is bool:
                found.append(Edit(where, replace_at(path, not node.value), f"{label}: {node.value} -> {not node.value}",
                                  node.lineno))  # fmt: skip
            else:
                for step in (1, -1):
                    assert isinstance(node.value, int | float)
                    new = node.value + step
                    found.append(
                        Edit(where, replace_at(path, new), f"{label}: {node.value!r} -> {new!r}", node.lineno)
                    )
    return found


def entry_label(name: str, value: ast.expr, path: tuple[Any, ...]) -> str:
    """`name[key]` for a constant inside a dict's entry, `name[i]` inside a sequence's; else `name`."""
    if not is_table(value):
        return name
    table = literal(value)
    inner = path[2:] if isinstance(value, ast.Call) else path  # past the call's ("args", 0)
    if len(inner) >= 2 and isinstance(inner[1], int):
        if isinstance(table, ast.Dict) and inner[0] in ("keys", "values"):
            key = table.keys[inner[1]]
            return f"{name}[{ast.unparse(key) if key is not None else '**'}]"
        if inner[0] == "elts":
            return f"{name}[{inner[1]}]"
    return name


def entry_edits(where: tuple[int, ...], name: str, value: ast.expr) -> Iterator[Edit]:
    table = literal(value)
    if isinstance(table, ast.Dict):
        keys = [ast.unparse(k) if k is not None else "**" for k in table.keys]
        texts = [ast.unparse(v) for v in table.values]
        for i, key in enumerate(keys):
            if key == "**":
                continue
            yield Edit(
                where,
                delete_entry(i),
                f"{name}: delete {key}: {short(table.values[i])}",
                table.values[i].lineno,
            )
            # The next value of the table that differs: a status mapped to its neighbour's status.
            others = [j for j in [*range(i + 1, len(texts)), *range(i)] if texts[j] != texts[i]]
            if others:
                j = others[0]
                yield Edit(where, set_value(i, table.values[j]),
                           f"{name}[{key}]: {short(table.values[i])} -> {short(table.values[j])}", table.values[i].lineno)  # fmt: skip
    else:
        for i, element in enumerate(table.elts):
            yield Edit(where, delete_entry(i), f"{name}: delete {short(element)}", element.lineno)


def constants(node: ast.AST, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], ast.Constant]]:
    """Numeric and bool constants under `node`, with the path of fields and indexes that leads to each."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
        yield path, node
        return
    for name, child in ast.iter_fields(node):
        if isinstance(child, list):
            for i, item in enumerate(child):
                if isinstance(item, ast.AST):
                    yield from constants(item, (*path, name, i))
        elif isinstance(child, ast.AST):
            yield from constants(child, (*path, name))


def replace_at(path: tuple[Any, ...], new: float) -> Callable[[ast.expr], ast.expr]:
    def apply(value: ast.expr) -> ast.expr:
        if not path:
            return ast.Constant(new)
        node: Any = value
        for step in path[:-1]:
            node = node[step] if isinstance(step, int) else getattr(node, step)
        last = path[-1]
        target = node[last] if isinstance(last, int) else getattr(node, last)
        target.value = new
        return value

    return apply


def delete_entry(i: int) -> Callable[[ast.expr], ast.expr]:
    def apply(value: ast.expr) -> ast.expr:
        table = literal(value)
        if isinstance(table, ast.Dict):
            del table.keys[i], table.values[i]
        else:
            del table.elts[i]
        return value

    return apply


def set_value(i: int, new: ast.expr) -> Callable[[ast.expr], ast.expr]:
    def apply(value: ast.expr) -> ast.expr:
        table = literal(value)
        assert isinstance(table, ast.Dict)
        table.values[i] = copy.deepcopy(new)
        return value

    return apply


def mutated(source: str, edit: Edit | None) -> str:
    tree = ast.parse(source)
    if edit is not None:
        body: list[ast.stmt] = tree.body
        for index in edit.where[:-1]:
            owner = body[index]
            assert isinstance(owner, ast.ClassDef)
            body = owner.body
        stmt = body[edit.where[-1]]
        assert isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None
        stmt.value = edit.apply(stmt.value)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def run_tables(work: Path, modules: list[str], jobs: int, results: dict[str, Module]) -> None:
    sources = {path: (work / "tree" / path).read_text(encoding="utf-8") for path in modules}
    todo = [(path, edit) for path in modules for edit in edits(sources[path])]
    print(f"tables: {len(todo)} edits in {len(modules)} module(s), {jobs} at once", file=sys.stderr)
    if not todo:
        return
    # Each worker has its own copy, and puts back the file it edited after each run.
    copies: queue.Queue[Path] = queue.Queue()
    for n in range(min(jobs, len(todo))):
        tree = work / f"tree-{n}" if n else work / "tree"
        if n:
            shutil.copytree(work / "tree", tree, ignore=shutil.ignore_patterns("mutants", "mutmut.log"))
        copies.put(tree)
    # The unparsed sources, unchanged, must pass: else the edits would be judged on something else.
    for path in modules:
        (work / "tree" / path).write_text(mutated(sources[path], None), encoding="utf-8")
    clean_run = time.monotonic()
    if run_tests(work / "tree", modules, timeout=None) != 0:
        sys.exit("mutation: the tests fail on the unedited (unparsed) modules: no table edit can be judged")
    # An edit can make a test loop forever: that is a kill, once the run has taken far longer than it should.
    timeout = max(60.0, 10 * (time.monotonic() - clean_run))
    for path in modules:
        (work / "tree" / path).write_text(sources[path], encoding="utf-8")

    def test(path: str, edit: Edit) -> Mutant:
        tree = copies.get()
        target = tree / path
        try:
            target.write_text(mutated(sources[path], edit), encoding="utf-8")
            code = run_tests(tree, [path], timeout)
        finally:
            target.write_text(sources[path], encoding="utf-8")
            copies.put(tree)
        # pytest: 1 tests failed, 2 interrupted (an import failed), 3 internal error; 0 all passed.
        status = {0: "survived", 1: "killed", 2: "killed", 3: "killed", TIMED_OUT: "timeout"}.get(
            code, f"suspicious (exit {code})"
        )
        return Mutant(path, edit.describe, status, edit.line)

    with concurrent.futures.ThreadPoolExecutor(max_workers=copies.qsize()) as pool:
        futures = [pool.submit(test, path, edit) for path, edit in todo]
        try:
            for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                mutant = future.result()
                results[mutant.module].tables.append(mutant)
                print(f"\r  {done}/{len(todo)}", end="", file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    print(file=sys.stderr)
    for module in results.values():
        module.tables.sort(key=lambda m: (m.line, m.name))


def run_tests(tree: Path, modules: list[str], timeout: float | None) -> int:
    """The fast tier, the tests that name the edited module first (so a kill comes early), stopping at the
    first failure: pytest's exit code, or TIMED_OUT."""
    names = {Path(path).stem for path in modules} | {
        path.removesuffix(".py").replace("/", ".") for path in modules
    }
    files = sorted((tree / TESTS).rglob("test_*.py"))
    first = [
        f for f in files if f.stem.removeprefix("test_") in names or any(n in f.read_text() for n in names)
    ]
    ordered = first + [f for f in files if f not in first]
    try:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *map(str, ordered)],
            cwd=tree,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        ).returncode
    except subprocess.TimeoutExpired:
        return TIMED_OUT


# -- the report -------------------------------------------------------------------------------------------------


def score(mutants: list[Mutant]) -> tuple[int, int]:
    killed = sum(1 for m in mutants if m.status in KILLED)
    return killed, sum(
        1 for m in mutants if m.status in KILLED or m.status in SURVIVED or "suspicious" in m.status
    )


def percent(killed: int, total: int) -> str:
    return f"{killed}/{total} ({100 * killed / total:.1f} %)" if total else "-"


def report(modules: list[Module], elapsed: float) -> None:
    width = max(len(m.path) for m in modules)
    print(f"\n{'module':{width}}  {'mutmut':>18}  {'tables':>18}  {'score':>18}")
    for m in modules:
        print(f"{m.path:{width}}  {percent(*score(m.mutmut)):>18}  {percent(*score(m.tables)):>18}  "
              f"{percent(*score(m.mutmut + m.tables)):>18}")  # fmt: skip
    print(f"\n{elapsed / 60:.1f} min")
    for m in modules:
        left = [x for x in m.mutmut + m.tables if x.status not in KILLED]
        if not left:
            continue
        print(f"\n{m.path}: {len(left)} not killed")
        for x in left:
            where = f" (line {x.line})" if x.line else ""
            print(f"  {x.name}{where}: {x.status}")
            for line in x.diff.splitlines():
                print(f"      {line if len(line) <= LONG else line[: LONG - 3] + '...'}")


def as_json(modules: Iterable[Module], elapsed: float) -> dict[str, Any]:
    return {
        "minutes": round(elapsed / 60, 1),
        "modules": {
            m.path: {
                "mutmut": score(m.mutmut),
                "tables": score(m.tables),
                "not_killed": [
                    {"name": x.name, "status": x.status, "line": x.line, "diff": x.diff}
                    for x in m.mutmut + m.tables
                    if x.status not in KILLED
                ],
            }
            for m in modules
        },
    }


if __name__ == "__main__":
    sys.exit(main())
