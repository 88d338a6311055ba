"""The printed table and the JSON files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:.0f}×"
    if value >= 10:
        return f"{value:.1f}×"
    return f"{value:.2f}×"


def _cell(value: float | None, targets: list[dict], name_part: str) -> str:
    """A ratio followed by the target that applies to it (if any): ``0.75× ≤1.2 PASS``."""
    text = _fmt(value)
    for t in targets:
        if name_part in t["name"]:
            sign = "≤" if t["op"] == "<=" else "≥"
            verdict = {True: "PASS", False: "MISS", None: "n/a"}[t["passed"]]
            text += f" {sign}{t['limit']:g} {verdict}"
    return text


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def conv_table(section: dict[str, Any]) -> str:
    header = [
        "conv",
        "dtype",
        "pass",
        "path",
        "naive*/fast",
        "im2col/fast",
        "fast/torch",
        "fast/GEMM",
        "im2col/GEMM",
        "torch/GEMM",
        "fast/wGEMM",
    ]
    rows = []
    for r in section["rows"]:
        s, q, tg = r["shape"], r["ratios"], r["targets"]
        rows.append(
            [
                f"{s['label']} {s['N']}x{s['C']}x{s['H']}x{s['W']} F{s['F']} {s['HH']}x{s['WW']}"
                + (f" s{s['stride']}" if s["stride"] != 1 else "")
                + (f" p{s['pad']}" if s["pad"] else ""),
                r["dtype"],
                r["pass"],
                r.get("path", "im2col"),
                _cell(q["naive_over_fast"], tg, "naive"),
                _fmt(q["im2col_over_fast"]),
                _cell(q["fast_over_torch"], tg, "torch"),
                _cell(q["fast_over_gemm"], tg, "GEMM"),
                _fmt(q["im2col_over_gemm"]),
                _fmt(q["torch_over_gemm"]),
                _fmt(q.get("fast_over_winograd_gemm")),
            ]
        )
    slices = sorted(
        {
            f"{r['shape']['label']}: {r['naive_slice']['N']} of {r['shape']['N']} images"
            + (
                f", {r['naive_slice']['F']} of {r['shape']['F']} filters"
                if r["naive_slice"]["F"] != r["shape"]["F"]
                else ""
            )
            for r in section["rows"]
        }
    )
    foot = [
        "* naive timed on a slice and scaled linearly to the full shape ("
        + "; ".join(slices)
        + ")",
        "  both = fwd + bwd; GEMM = the bare matrix products of the im2col sizes (the floor of"
        " the im2col path); wGEMM = the 16 products of the Winograd path (winograd rows only)",
    ]
    if section.get("torch_skip_reason"):
        foot.append(f"  torch column skipped: {section['torch_skip_reason']}")
    return _table(header, rows) + "\n" + "\n".join(foot)


def pool_table(section: dict[str, Any]) -> str:
    header = ["pool 2x2/2", "dtype", "pass", "naive*/fast", "fast/torch"]
    rows = []
    for r in section["rows"]:
        rows.append(
            [
                f"{r['kind']} {'x'.join(map(str, r['shape']))}",
                r["dtype"],
                r["pass"],
                _fmt(r["ratios"]["naive_over_fast"]),
                _cell(r["ratios"]["fast_over_torch"], r["targets"], "torch"),
            ]
        )
    n = section["rows"][0]["naive_slice"]["N"] if section["rows"] else 0
    tie = section.get("tie_rule", {})
    foot = [
        f"* naive timed on {n} images and scaled per image",
        "  tie rule (gradient to the first maximum only): fast == naive on tied windows: "
        f"{tie.get('fast_equals_naive_on_ties')}, one input per window: "
        f"{tie.get('one_input_per_window')}, fast == torch: "
        f"{tie.get('fast_equals_torch_on_ties', 'n/a')}",
    ]
    if section.get("torch_skip_reason"):
        foot.append(f"  torch column skipped: {section['torch_skip_reason']}")
    return _table(header, rows) + "\n" + "\n".join(foot)


def train_table(section: dict[str, Any]) -> str:
    q = section["ratios"]
    mem = section["memory"]
    est = mem["estimate"]
    header = ["train (1 epoch, digits)", "library/torch", "peak/estimate"]
    rows = [
        [
            f"ThreeLayerConvNet, {section['steps']} steps of {section['config']['batch_size']}",
            _fmt(q["library_over_torch"]),
            _cell(q["peak_over_estimate"], section["targets"], "memory"),
        ]
    ]
    foot = [
        "  peak = tracemalloc peak over one epoch (Solver + end-of-epoch accuracy checks); "
        + (
            f"estimate = memory_estimate({section['config']['batch_size']}), a lower bound"
            if est
            else "no memory_estimate on ThreeLayerConvNet"
        )
    ]
    if section.get("torch_skip_reason"):
        foot.append(f"  torch column skipped: {section['torch_skip_reason']}")
    return _table(header, rows) + "\n" + "\n".join(foot)


GRADING_ROWS = (
    ("jobs1", "cs231n-grader autograde --jobs 1"),
    ("jobs2", "cs231n-grader autograde --jobs 2"),
    ("local2", "cs231n-grader autograde --scheduler local:2"),
    ("full", "--jobs 1, demo-only cells run (before)"),
    ("stock", "stock nbgrader autograde (unsandboxed)"),
    ("bare", "bare nbclient (no grading)"),
)


def grading_table(section: dict[str, Any]) -> str:
    if section["status"] != "ok":
        return f"grading: {section['status'].upper()}: {section['reason'].splitlines()[0]}"
    q, per = section["ratios"], section["seconds_per_submission"]
    header = [
        f"grading (class of {section['class_size']}, median of {section.get('repeats', 1)})",
        "s / submission",
        "time / --jobs 1",
    ]
    rows = []
    for key, label in GRADING_ROWS:
        if key not in per:
            continue
        ratio = per[key] / per["jobs1"]
        rows.append([label, f"{per[key]:.1f}", _fmt(ratio)])
    foot = [
        f"  speed-up --jobs 1 / --jobs 2 = "
        f"{_cell(q['jobs1_over_jobs2'], section['targets'], 'speed-up')}; "
        f"bare / --jobs 1 = {q.get('bare_over_jobs1', 1 / q['jobs1_over_bare']):.2f}x; "
        f"scores identical across modes: {section['scores_agree']}"
    ]
    for key, prof in section.get("profile_one_submission", {}).items():
        foot.append(
            f"  one submission ({key}): {prof['total']:.1f} s = library checks "
            f"{prof['library']:.1f} + notebooks {prof['notebooks']:.1f} + job start "
            f"and scratch copy {prof['job_start_and_scratch']:.1f}"
        )
    stalls = {k: b.get("near_timeout") for k, b in section.get("bare", {}).items()}
    stalls = {k: v for k, v in stalls.items() if v}
    if stalls:
        foot.append(
            f"  WARNING: bare notebooks near the cell timeout (stalls; overhead suspect): {stalls}"
        )
    return _table(header, rows) + "\n" + "\n".join(foot)


TABLES = {"conv": conv_table, "pool": pool_table, "train": train_table, "grading": grading_table}


def render(result: dict[str, Any]) -> str:
    env = result["environment"]
    blas = env.get("blas") or {}
    forced = env.get("env", {}).get("OPENBLAS_CORETYPE")
    lines = [
        "cs231n bench: every figure is a ratio of two times measured in this process",
        f"  clock: {result['settings']['clock']} time, one thread; medians of up to "
        f"{result['settings']['repeats']} interleaved rounds"
        + ("; grading: wall clock, one run each" if "grading" in result["sections"] else ""),
        f"  numpy {env['numpy']} + {blas.get('library')} {blas.get('version')} kernel "
        f"{blas.get('kernel')}"
        + (f" (OPENBLAS_CORETYPE={forced} forced)" if forced else "")
        + f", {blas.get('threads')} thread",
        f"  torch {env.get('torch') or 'not installed'}"
        + (
            f" ({env.get('torch_cpu_capability')}, threads {env.get('torch_num_threads')})"
            if env.get("torch")
            else ""
        ),
        f"  cpu {env['cpu']} x{env['cpu_count']}, load average {env['load_average']}",
    ]
    if forced and "avx512f" in env.get("cpu_flags", []) and "avx512" not in forced.lower():
        lines.append(
            f"  note: OPENBLAS_CORETYPE={forced} makes OpenBLAS use AVX2 kernels on this AVX-512 "
            "CPU (NumPy's GEMM is slower than the hardware allows; torch/MKL is not affected)"
        )
    lines.append("")
    for name, section in result["sections"].items():
        if section.get("status") != "ok":
            status = section.get("status", "skipped").upper()
            lines += [f"{name}: {status}: {section.get('reason', '').splitlines()[0]}", ""]
            continue
        lines += [TABLES[name](section), ""]
    for kind, title in (("issue", "targets (issue)"), ("check", "checks")):
        targets = [t for t in result["targets"] if t.get("kind", "issue") == kind]
        if not targets:
            continue
        passed = sum(t["passed"] is True for t in targets)
        missed = [t for t in targets if t["passed"] is False]
        unknown = [t for t in targets if t["passed"] is None]
        lines.append(
            f"{title}: {passed} PASS, {len(missed)} MISS, {len(unknown)} n/a (of {len(targets)})"
        )
        # Every target with its verdict (in --quick mode only the misses: nothing is judged).
        shown = missed if result["settings"].get("quick") else targets
        for t in shown:
            sign = "≤" if t["op"] == "<=" else "≥"
            verdict = {True: "PASS", False: "MISS", None: "n/a"}[t["passed"]]
            measured = "—" if t["measured"] is None else f"{t['measured']:.3g}"
            lines.append(
                f"  {verdict}: {t['name']} = {measured} (want {sign}{t['limit']:g})"
                + (f"; {t['note']}" if t.get("note") and t["passed"] is not True else "")
            )
    return "\n".join(lines)


def write(result: dict[str, Any], out_dir: Path | None = None) -> tuple[Path, Path]:
    """``<out>/<UTC timestamp>.json`` and ``<out>/latest.json``; returns both paths."""
    out = Path(out_dir) if out_dir is not None else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(result, indent=1, sort_keys=False, default=str) + "\n"
    path = out / f"{stamp}.json"
    path.write_text(text)
    latest = out / "latest.json"
    latest.write_text(text)
    return path, latest


def flatten_ratios(result: dict[str, Any]) -> dict[str, float]:
    """Every ratio of a result file under a stable key, e.g. ``conv/A/float64/both/...``."""
    flat: dict[str, float] = {}
    for name, section in result.get("sections", {}).items():
        if section.get("status") != "ok":
            continue
        for row in section.get("rows", []):
            label = row["shape"]["label"] if isinstance(row["shape"], dict) else row["kind"]
            prefix = f"{name}/{label}/{row['dtype']}/{row['pass']}"
            for key, value in row["ratios"].items():
                if value is not None:
                    flat[f"{prefix}/{key}"] = value
        if "rows" not in section:
            for key, value in section.get("ratios", {}).items():
                if value is not None:
                    flat[f"{name}/{key}"] = value
    return flat


def diff(old_path: Path, new_path: Path, threshold: float = 0.1) -> str:
    """The ratios that moved by more than ``threshold`` (relative) between two result files."""
    old = json.loads(Path(old_path).read_text())
    new = json.loads(Path(new_path).read_text())
    a, b = flatten_ratios(old), flatten_ratios(new)
    rows = []
    for key in sorted(a.keys() & b.keys()):
        change = b[key] / a[key] - 1
        if abs(change) > threshold:
            rows.append([key, _fmt(a[key]), _fmt(b[key]), f"{change:+.0%}"])
    head = (
        f"{old_path} ({old['environment'].get('git_commit', '?')[:10]}) -> "
        f"{new_path} ({new['environment'].get('git_commit', '?')[:10]}): "
        f"{len(rows)} of {len(a.keys() & b.keys())} ratios moved by more than {threshold:.0%}"
    )
    if not rows:
        return head
    return head + "\n" + _table(["ratio", "old", "new", "change"], rows)
