"""Smoke test of ``python -m bench``: the harness runs end to end in ``--quick`` mode (tiny
shapes, few repeats) and writes JSON of the documented shape. No timing is asserted: the
figures themselves are what ``make bench`` is for.

The ``--quick`` run is marked slow (CONTRIBUTING: over ~3 s): its subprocess imports torch and
scikit-learn, which alone takes a few seconds; the measuring itself is well under a second."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _number_or_none(value) -> bool:
    return value is None or (isinstance(value, int | float) and math.isfinite(value) and value > 0)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[dict, str, Path]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((out / "latest.json").read_text()), proc.stdout, out


@pytest.mark.slow
def test_writes_timestamped_and_latest_json(quick_run) -> None:
    result, _, out = quick_run
    stamped = [p for p in out.glob("*.json") if p.name != "latest.json"]
    assert len(stamped) == 1
    assert json.loads(stamped[0].read_text()) == result


@pytest.mark.slow
def test_top_level_schema(quick_run) -> None:
    result, _, _ = quick_run
    assert result["schema"] == "cs231n-bench/1"
    assert result["settings"]["quick"] is True
    assert result["settings"]["sections"] == ["conv", "pool", "train"]
    assert set(result["sections"]) == {"conv", "pool", "train"}
    env = result["environment"]
    for key in ("numpy", "threadpools", "blas", "env", "cpu", "git_commit"):
        assert key in env
    # BLAS pinned to one thread while measuring.
    if env["blas"] is not None:
        assert env["blas"]["threads"] == 1
    if env["torch"] is not None:
        assert env["torch_num_threads"] == 1


@pytest.mark.slow
def test_conv_section(quick_run) -> None:
    conv = quick_run[0]["sections"]["conv"]
    assert conv["status"] == "ok"
    combos = {(r["shape"]["label"], r["dtype"], r["pass"]) for r in conv["rows"]}
    assert combos == {
        (s, d, p) for s in "ABC" for d in ("float64", "float32") for p in ("fwd", "bwd", "both")
    }
    for row in conv["rows"]:
        assert set(row["seconds"]) == {"naive", "im2col", "fast", "torch", "gemm"}
        assert set(row["ratios"]) >= {
            "naive_over_fast",
            "im2col_over_fast",
            "fast_over_torch",
            "fast_over_gemm",
        }
        assert all(_number_or_none(v) for v in row["ratios"].values())
        assert row["naive_slice"]["scale"] >= 1
        assert row["checks"]["im2col_matches_fast"] is True
        assert row["path"] in {"im2col", "winograd"}


@pytest.mark.slow
def test_pool_and_train_sections(quick_run) -> None:
    result = quick_run[0]
    pool = result["sections"]["pool"]
    assert {(r["kind"], r["pass"]) for r in pool["rows"]} == {
        (k, p) for k in ("max", "avg") for p in ("fwd", "bwd", "both")
    }
    assert pool["tie_rule"]["fast_equals_naive_on_ties"] is True
    train = result["sections"]["train"]
    assert train["memory"]["peak_bytes"] > 0
    assert _number_or_none(train["ratios"]["peak_over_estimate"])


@pytest.mark.slow
def test_targets_listed_but_not_judged_in_quick_mode(quick_run) -> None:
    result, stdout, _ = quick_run
    names = [t["name"] for t in result["targets"]]
    assert any("fwd+bwd / torch" in n for n in names)
    assert any("fwd / GEMM" in n for n in names)
    assert any("naive / fast" in n for n in names)
    assert any("max pool" in n for n in names)
    assert all(t["passed"] is None for t in result["targets"])
    for t in result["targets"]:
        assert set(t) == {
            "name",
            "section",
            "measured",
            "op",
            "limit",
            "passed",
            "note",
            "kind",
        }
        assert t["kind"] in ("issue", "check")
        assert t["op"] in ("<=", ">=")
    assert "every figure is a ratio" in stdout


def test_grading_failure_is_reported_not_raised(monkeypatch) -> None:
    """A failing grading run becomes a FAILED row with its reason; the other sections stay."""
    sys.path.insert(0, str(ROOT))
    try:
        from bench import grading, report
    finally:
        sys.path.remove(str(ROOT))

    def broken(course):
        raise RuntimeError("no course here")

    monkeypatch.setattr(grading, "build_release", broken)
    section = grading.run(class_size=2, log=lambda _: None)
    assert section["status"] == "failed" and section["targets"] == []
    assert report.grading_table(section) == "grading: FAILED: RuntimeError: no course here"


def test_diff_reports_moved_ratios(tmp_path) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from bench import report
    finally:
        sys.path.remove(str(ROOT))

    def result(ratio: float) -> dict:
        row = {"kind": "max", "dtype": "float64", "pass": "both", "shape": [1, 1, 2, 2]}
        row["ratios"] = {"fast_over_torch": ratio, "naive_over_fast": 100.0}
        return {
            "environment": {"git_commit": "abc"},
            "sections": {"pool": {"status": "ok", "rows": [row]}},
        }

    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(result(1.0)))
    new.write_text(json.dumps(result(1.5)))
    text = report.diff(old, new)
    assert "1 of 2 ratios moved" in text
    assert "pool/max/float64/both/fast_over_torch" in text
    assert "+50%" in text


def test_conv_bench_knows_the_winograd_path() -> None:
    """Shape B in float32 takes conv_fast's Winograd path; its own products are timed."""
    import numpy as np

    from bench import conv as bench_conv
    from cs231n_lib.conv_fast import _use_winograd

    B = next(s for s in bench_conv.SHAPES if s.label == "B")
    x_shape, w_shape = (B.N, B.C, B.H, B.W), (B.F, B.C, B.K, B.K)
    assert _use_winograd(np.dtype("float32"), x_shape, w_shape, 1, 1, B.Ho, B.Wo)
    assert not _use_winograd(np.dtype("float64"), x_shape, w_shape, 1, 1, B.Ho, B.Wo)
    small = bench_conv.ConvShape("s", 2, 3, 6, 6, 4, 3, 1, 1)
    fns = bench_conv._winograd_gemm_contenders(small, np.dtype("float32"))
    assert set(fns) == {"wgemm.fwd", "wgemm.bwd"}
    for fn in fns.values():
        fn()
    note = bench_conv._floor_note({"fast_over_winograd_gemm": 1.5}, 1.3, object(), None, "winograd")
    assert note.startswith("winograd path") and "1.50x" in note
