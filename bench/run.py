"""``python -m bench``: run the sections, print the table, write the JSON."""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import SCHEMA
from bench.harness import JUDGE, MIN_SAMPLE, clock_name, environment, set_clock, single_thread
from bench.report import diff, render, write

DEFAULT_SECTIONS = ("conv", "pool", "train")
ALL_SECTIONS = (*DEFAULT_SECTIONS, "grading")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Speed ratios of cs231n_lib (one thread, one process); JSON in bench/results/.",
    )
    p.add_argument("--quick", action="store_true", help="tiny shapes, few repeats (smoke test)")
    p.add_argument(
        "--grading", action="store_true", help="also benchmark autograde (slow: minutes)"
    )
    p.add_argument(
        "--only",
        default=None,
        help=f"comma-separated sections to run, from {','.join(ALL_SECTIONS)}",
    )
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 7)")
    p.add_argument("--class-size", type=int, default=20, help="grading: submissions")
    p.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: process CPU time (robust on a shared machine; default); wall: perf_counter",
    )
    p.add_argument("--out", type=Path, default=None, help="results directory")
    p.add_argument("--no-write", action="store_true", help="print only, write no JSON")
    p.add_argument(
        "--show", type=Path, metavar="JSON", help="print the table of a result file; runs nothing"
    )
    p.add_argument(
        "--diff",
        nargs=2,
        type=Path,
        metavar=("OLD", "NEW"),
        help="compare two result files (ratios that moved by more than 10%%); runs nothing",
    )
    p.add_argument(
        "--strict", action="store_true", help="exit 1 when a target is missed (default 0)"
    )
    return p


def _sections(args: argparse.Namespace) -> list[str]:
    if args.only:
        chosen = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = sorted(set(chosen) - set(ALL_SECTIONS))
        if unknown:
            raise SystemExit(f"unknown section(s) {unknown}; choose from {list(ALL_SECTIONS)}")
        return chosen
    return [*DEFAULT_SECTIONS, *(["grading"] if args.grading else [])]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_section(name: str, args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    if name == "conv":
        from bench import conv

        repeats = args.repeats or (2 if quick else 7)
        return conv.run(quick=quick, repeats=repeats, naive_repeats=1 if quick else 3, log=_log)
    if name == "pool":
        from bench import pooling

        return pooling.run(quick=quick, repeats=args.repeats or (2 if quick else 9), log=_log)
    if name == "train":
        from bench import training

        return training.run(quick=quick, repeats=args.repeats or (1 if quick else 7), log=_log)
    if name == "grading":
        from bench import grading

        return grading.run(class_size=2 if quick else args.class_size,
                           repeats=args.repeats or (1 if quick else 3), log=_log)
    raise ValueError(name)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.diff:
        print(diff(*args.diff))
        return 0
    if args.show:
        print(render(json.loads(args.show.read_text())))
        return 0
    sections = _sections(args)
    previous = clock_name(), MIN_SAMPLE[0], JUDGE[0]
    set_clock(args.clock)
    if args.quick:
        MIN_SAMPLE[0] = 0.0
        JUDGE[0] = False
    started = datetime.now(UTC)
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "created": started.isoformat(timespec="seconds"),
        "settings": {
            "quick": args.quick,
            "sections": sections,
            "clock": args.clock,
            "repeats": args.repeats or (2 if args.quick else 7),
        },
        "environment": {},
        "sections": {},
        "targets": [],
    }
    try:
        with single_thread() as pinned:
            result["environment"] = environment(pinned)
            for name in sections:
                _log(f"[bench] {name}")
                t0 = time.perf_counter()
                try:
                    section = run_section(name, args)
                except Exception as exc:  # one broken section must not lose the others
                    section = {
                        "status": "error",
                        "reason": f"{type(exc).__name__}: {exc}\n" + traceback.format_exc(limit=8),
                        "targets": [],
                    }
                section["wall_seconds"] = round(time.perf_counter() - t0, 2)
                result["sections"][name] = section
                result["targets"].extend(section.get("targets", []))
    finally:
        set_clock(previous[0])
        MIN_SAMPLE[0] = previous[1]
        JUDGE[0] = previous[2]
    result["wall_seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    print(render(result))
    if not args.no_write:
        path, latest = write(result, args.out)
        print(f"\nJSON: {path} (and {latest.name})")
    missed = any(t["passed"] is False for t in result["targets"])
    errored = any(s.get("status") == "error" for s in result["sections"].values())
    return 1 if (args.strict and missed) or errored else 0
