"""Pooling 2x2 stride 2: naive, fast and PyTorch, max and average, forward and backward."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.harness import Target, interleaved, load_torch, paired_ratio, summed

SHAPE = (50, 32, 32, 32)
QUICK_SHAPE = (4, 3, 8, 8)
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
NAIVE_IMAGES = 2
TORCH_LIMIT = 2.0  # fast max pool fwd+bwd <= 2x PyTorch
PASSES = ("fwd", "bwd", "both")


def _tie_rule_checks(torch) -> dict[str, Any]:
    """The fast max-pool backward keeps the documented first-maximum rule on tied windows."""
    from cs231n_lib.pooling import (
        max_pool_backward_fast,
        max_pool_backward_naive,
        max_pool_forward_fast,
        max_pool_forward_naive,
    )

    rng = np.random.default_rng(5)
    # After a ReLU many windows are all zeros: ties everywhere.
    x = np.maximum(rng.integers(-2, 2, size=(3, 4, 8, 8)), 0).astype(np.float64)
    dout = rng.standard_normal((3, 4, 4, 4))
    _, cache_f = max_pool_forward_fast(x, POOL)
    _, cache_n = max_pool_forward_naive(x, POOL)
    dx_fast = max_pool_backward_fast(dout, cache_f)
    dx_naive = max_pool_backward_naive(dout, cache_n)
    checks: dict[str, Any] = {
        "tied_windows": int(np.sum((x.reshape(3, 4, 4, 2, 4, 2) == 0).all(axis=(3, 5)))),
        "fast_equals_naive_on_ties": bool(np.array_equal(dx_fast, dx_naive)),
        # The gradient of each window reaches exactly one input: no copies to tied maxima.
        "one_input_per_window": bool(
            np.array_equal(
                (dx_fast != 0).reshape(3, 4, 4, 2, 4, 2).sum(axis=(3, 5)), (dout != 0) * 1
            )
        ),
    }
    if torch is not None:
        xt = torch.from_numpy(x).requires_grad_()
        torch.nn.functional.max_pool2d(xt, 2, 2).backward(torch.from_numpy(dout))
        checks["fast_equals_torch_on_ties"] = bool(np.array_equal(dx_fast, xt.grad.numpy()))
    return checks


def run(*, quick: bool = False, repeats: int = 9, budget: float = 8.0, log=print) -> dict:
    from cs231n_lib import pooling as P

    torch, torch_reason = load_torch()
    shape = QUICK_SHAPE if quick else SHAPE
    N = shape[0]
    n = min(NAIVE_IMAGES, N)
    rows: list[dict[str, Any]] = []
    targets: list[Target] = []
    checks = _tie_rule_checks(torch)
    tie_ok = checks["fast_equals_naive_on_ties"] and checks["one_input_per_window"]
    targets.append(
        Target(
            "max pool fast backward keeps the first-maximum tie rule (1 = yes)",
            "pool",
            1.0 if tie_ok else 0.0,
            ">=",
            1.0,
        )
    )
    for dtype in (np.float64, np.float32):
        dname = np.dtype(dtype).name
        rng = np.random.default_rng(0)
        x = rng.standard_normal(shape).astype(dtype)
        dout = rng.standard_normal((N, shape[1], shape[2] // 2, shape[3] // 2)).astype(dtype)
        for kind in ("max", "avg"):
            log(f"  pool {kind} {shape} {dname} ...")
            fwd_fast = getattr(P, f"{kind}_pool_forward_fast")
            bwd_fast = getattr(P, f"{kind}_pool_backward_fast")
            fwd_naive = getattr(P, f"{kind}_pool_forward_naive")
            bwd_naive = getattr(P, f"{kind}_pool_backward_naive")
            out_fast, cache_fast = fwd_fast(x, POOL)
            contenders: dict[str, Any] = {
                "fast.fwd": lambda f=fwd_fast: f(x, POOL),  # noqa: B023
                "fast.bwd": lambda b=bwd_fast, c=cache_fast: b(dout, c),  # noqa: B023
            }
            row_checks: dict[str, Any] = {}
            if torch is not None:
                xt, dt = torch.from_numpy(x), torch.from_numpy(dout)
                xg = xt.detach().clone().requires_grad_()
                if kind == "max":
                    _, idx = torch.ops.aten.max_pool2d_with_indices(xt, [2, 2], [2, 2])
                    contenders["torch.fwd"] = lambda xg=xg: torch.nn.functional.max_pool2d(xg, 2, 2)
                    backward = torch.ops.aten.max_pool2d_with_indices_backward
                    contenders["torch.bwd"] = lambda xt=xt, dt=dt, idx=idx, f=backward: f(
                        dt, xt, [2, 2], [2, 2], [0, 0], [1, 1], False, idx
                    )
                    ref = torch.nn.functional.max_pool2d(xt, 2, 2).numpy()
                else:
                    contenders["torch.fwd"] = lambda xg=xg: torch.nn.functional.avg_pool2d(xg, 2, 2)
                    contenders["torch.bwd"] = lambda xt=xt, dt=dt: (
                        torch.ops.aten.avg_pool2d_backward(
                            dt, xt, [2, 2], [2, 2], [0, 0], False, True, None
                        )
                    )
                    ref = torch.nn.functional.avg_pool2d(xt, 2, 2).numpy()
                row_checks["torch_matches_fast"] = bool(np.allclose(ref, out_fast, rtol=1e-5))
            timings = interleaved(contenders, repeats, budget=budget)

            xs, ds = x[:n].copy(), dout[:n].copy()
            _, cache_naive = fwd_naive(xs, POOL)
            naive = interleaved(
                {
                    "naive.fwd": lambda f=fwd_naive: f(xs, POOL),  # noqa: B023
                    "naive.bwd": lambda b=bwd_naive, c=cache_naive: b(ds, c),  # noqa: B023
                },
                3,
                warmup_round=False,
            )
            for t in naive.values():
                t.samples = [v * N / n for v in t.samples]
            timings.update(naive)
            for impl in ("naive", "fast", "torch"):
                if f"{impl}.fwd" in timings:
                    timings[f"{impl}.both"] = summed(timings[f"{impl}.fwd"], timings[f"{impl}.bwd"])
            for pass_ in PASSES:
                t = {impl: timings.get(f"{impl}.{pass_}") for impl in ("naive", "fast", "torch")}
                ratios = {
                    "naive_over_fast": t["naive"].median / t["fast"].median,
                    "fast_over_torch": paired_ratio(t["fast"], t["torch"]) if t["torch"] else None,
                }
                row_targets = []
                if kind == "max" and pass_ == "both":
                    row_targets.append(
                        Target(
                            f"max pool {dname} fast fwd+bwd / torch",
                            "pool",
                            ratios["fast_over_torch"],
                            "<=",
                            TORCH_LIMIT,
                            note="" if torch else torch_reason or "",
                        )
                    )
                targets.extend(row_targets)
                rows.append(
                    {
                        "kind": kind,
                        "shape": list(shape),
                        "pool_param": POOL,
                        "dtype": dname,
                        "pass": pass_,
                        "seconds": {k: (v.median if v else None) for k, v in t.items()},
                        "samples": {k: (len(v.samples) if v else 0) for k, v in t.items()},
                        "ratios": ratios,
                        "naive_slice": {"N": n, "scale": N / n},
                        "checks": row_checks,
                        "targets": [tg.as_dict() for tg in row_targets],
                    }
                )
    return {
        "status": "ok",
        "rows": rows,
        "tie_rule": checks,
        "targets": [t.as_dict() for t in targets],
        "torch_skip_reason": torch_reason,
        "notes": [
            f"naive timed on {n} of {N} images, scaled per image",
            "torch fwd with autograd on; torch bwd: aten max_pool2d_with_indices_backward / "
            "avg_pool2d_backward",
        ],
    }
