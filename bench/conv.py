"""Convolution: naive, im2col, fast, PyTorch CPU and the bare GEMM, forward and backward."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.harness import Target, interleaved, load_torch, paired_ratio, summed


@dataclass(frozen=True)
class ConvShape:
    label: str
    N: int
    C: int
    H: int
    W: int
    F: int
    K: int
    stride: int
    pad: int
    # The naive loops run on a slice (n images, f filters); their cost is linear in both.
    naive_n: int = 1
    naive_f: int | None = None

    @property
    def Ho(self) -> int:
        return (self.H + 2 * self.pad - self.K) // self.stride + 1

    @property
    def Wo(self) -> int:
        return (self.W + 2 * self.pad - self.K) // self.stride + 1

    def describe(self) -> str:
        s = f"N={self.N} C={self.C} {self.H}x{self.W} F={self.F} {self.K}x{self.K}"
        return (
            s
            + (f" s{self.stride}" if self.stride != 1 else "")
            + (f" p{self.pad}" if self.pad else "")
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "N": self.N,
            "C": self.C,
            "H": self.H,
            "W": self.W,
            "F": self.F,
            "HH": self.K,
            "WW": self.K,
            "stride": self.stride,
            "pad": self.pad,
            "Ho": self.Ho,
            "Wo": self.Wo,
            "gemm_macs_forward": self.F * self.C * self.K * self.K * self.N * self.Ho * self.Wo,
        }


#: The issue's shapes. A, B carry the PyTorch targets.
SHAPES = (
    ConvShape("A", 50, 3, 32, 32, 32, 3, 1, 1, naive_n=2),
    ConvShape("B", 64, 64, 16, 16, 64, 3, 1, 1, naive_n=2),
    ConvShape("C", 8, 3, 227, 227, 96, 11, 4, 0, naive_n=1, naive_f=16),
)
QUICK_SHAPES = (
    ConvShape("A", 4, 3, 8, 8, 4, 3, 1, 1, naive_n=2),
    ConvShape("B", 2, 4, 6, 6, 4, 3, 1, 1, naive_n=1, naive_f=2),
    ConvShape("C", 2, 3, 19, 19, 5, 7, 4, 0, naive_n=1, naive_f=2),
)
TORCH_TARGET_SHAPES = ("A", "B")
#: DESIGN.md's quality bars (shapes A, B): fast fwd+bwd / torch.
TORCH_LIMITS = {"float64": 1.2, "float32": 3.0}
#: Issue 12 ("the learner's fast path in float32"): fast fwd+bwd / torch on every shape and
#: dtype, and fast fwd / the bare forward GEMM of the same size.
ISSUE12_TORCH_LIMIT = 1.3
ISSUE12_GEMM_LIMIT = 1.2
GEMM_LIMIT = 2.0
NAIVE_LIMIT = 100.0
PASSES = ("fwd", "bwd", "both")


def _inputs(shape: ConvShape, dtype: np.dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((shape.N, shape.C, shape.H, shape.W)).astype(dtype)
    w = (rng.standard_normal((shape.F, shape.C, shape.K, shape.K)) / shape.K).astype(dtype)
    b = rng.standard_normal(shape.F).astype(dtype)
    dout = rng.standard_normal((shape.N, shape.F, shape.Ho, shape.Wo)).astype(dtype)
    return x, w, b, dout


def _numpy_contenders(name: str, fwd, bwd, x, w, b, dout, param) -> dict[str, Any]:
    out, cache = fwd(x, w, b, param)
    return {
        f"{name}.fwd": lambda: fwd(x, w, b, param),
        f"{name}.bwd": lambda: bwd(dout, cache),
    }, out


def _gemm_contenders(shape: ConvShape, x: np.ndarray, w: np.ndarray) -> dict[str, Any]:
    """The three matrix products of an im2col convolution, on ready-made 2-D operands."""
    dtype = x.dtype
    P = shape.N * shape.Ho * shape.Wo
    rows = shape.C * shape.K * shape.K
    rng = np.random.default_rng(1)
    w_row = np.ascontiguousarray(w.reshape(shape.F, rows))
    cols = rng.standard_normal((rows, P)).astype(dtype)
    d_row = rng.standard_normal((shape.F, P)).astype(dtype)
    out = np.empty((shape.F, P), dtype=dtype)
    dw = np.empty((shape.F, rows), dtype=dtype)
    dcols = np.empty((rows, P), dtype=dtype)

    def forward() -> None:
        np.matmul(w_row, cols, out=out)

    def backward() -> None:
        np.matmul(d_row, cols.T, out=dw)
        np.matmul(w_row.T, d_row, out=dcols)

    return {"gemm.fwd": forward, "gemm.bwd": backward}


def _winograd_gemm_contenders(shape: ConvShape, dtype: np.dtype) -> dict[str, Any]:
    """The 16 matrix products of the Winograd path (``conv_fast``), on ready-made operands.

    fwd ``U[k] (F, C) @ V[k] (C, T)``; bwd ``dM[k] @ V[k]^T`` and ``U[k]^T @ dM[k]``, with
    ``T`` its tiles (spare column included), as ``conv_fast`` lays them out.
    """
    from cs231n_lib.conv_fast import _tile_grid

    rows, cols = _tile_grid(shape.Ho, shape.Wo)
    T = rows * shape.N * cols
    rng = np.random.default_rng(2)
    U = rng.standard_normal((16, shape.F, shape.C)).astype(dtype)
    UT = np.ascontiguousarray(U.transpose(0, 2, 1))
    V = rng.standard_normal((16, shape.C, T)).astype(dtype)
    dM = rng.standard_normal((16, shape.F, T)).astype(dtype)
    M = np.empty((16, shape.F, T), dtype=dtype)
    dV = np.empty((16, shape.C, T), dtype=dtype)

    def forward() -> None:
        np.matmul(U, V, out=M)

    def backward() -> None:
        np.matmul(dM, V.transpose(0, 2, 1))
        np.matmul(UT, dM, out=dV)

    return {"wgemm.fwd": forward, "wgemm.bwd": backward}


def _torch_contenders(torch, shape: ConvShape, x, w, b, dout) -> tuple[dict[str, Any], Any]:
    """F.conv2d with autograd on (graph kept like the NumPy cache), and its backward kernel."""
    xt, wt, bt = (torch.from_numpy(a) for a in (x, w, b))
    dt = torch.from_numpy(dout)
    xg, wg, bg = (t.detach().clone().requires_grad_() for t in (xt, wt, bt))
    conv = torch.nn.functional.conv2d
    s, p = [shape.stride] * 2, [shape.pad] * 2

    def forward():
        return conv(xg, wg, bg, stride=s, padding=p)

    def backward():
        return torch.ops.aten.convolution_backward(
            dt, xt, wt, [shape.F], s, p, [1, 1], False, [0, 0], 1, [True, True, True]
        )

    with torch.no_grad():
        ref = conv(xt, wt, bt, stride=s, padding=p).numpy()
    return {"torch.fwd": forward, "torch.bwd": backward}, ref


def _floor_note(ratios: dict[str, Any], limit: float, torch, torch_reason, path: str) -> str:
    """Why a fast/torch target cannot be met: the bare GEMMs alone are already over it."""
    if not torch:
        return torch_reason or ""
    if path == "winograd":
        wg = ratios.get("fast_over_winograd_gemm")
        return f"winograd path: fast = {wg:.2f}x its own 16 products" if wg else "winograd path"
    floor = ratios.get("torch_over_gemm")
    if floor and 1 / floor > limit:
        return (
            f"floor: the bare GEMMs of the same sizes alone take {1 / floor:.2f}x torch's "
            "time here (OpenBLAS at M = F or C small vs oneDNN's direct convolution)"
        )
    return ""


def _naive_slice(shape: ConvShape, x, w, b, dout):
    n, f = shape.naive_n, shape.naive_f or shape.F
    scale = (shape.N / n) * (shape.F / f)
    return x[:n].copy(), w[:f].copy(), b[:f].copy(), dout[:n, :f].copy(), n, f, scale


def run(
    *,
    quick: bool = False,
    repeats: int = 7,
    naive_repeats: int = 3,
    budget: float = 12.0,
    log=print,
) -> dict[str, Any]:
    """Measure every shape in float64 and float32. Returns the section's JSON."""
    from cs231n_lib.conv_fast import _use_winograd, conv_backward_fast, conv_forward_fast
    from cs231n_lib.conv_naive import conv_backward_naive, conv_forward_naive
    from cs231n_lib.im2col import conv_backward_im2col, conv_forward_im2col

    torch, torch_reason = load_torch()
    rows: list[dict[str, Any]] = []
    targets: list[Target] = []
    for shape in QUICK_SHAPES if quick else SHAPES:
        for dtype in (np.float64, np.float32):
            dname = np.dtype(dtype).name
            log(f"  conv {shape.label} ({shape.describe()}) {dname} ...")
            x, w, b, dout = _inputs(shape, np.dtype(dtype))
            param = {"stride": shape.stride, "pad": shape.pad}
            contenders: dict[str, Any] = {}
            c, out_fast = _numpy_contenders(
                "fast", conv_forward_fast, conv_backward_fast, x, w, b, dout, param
            )
            contenders.update(c)
            c, out_im2col = _numpy_contenders(
                "im2col", conv_forward_im2col, conv_backward_im2col, x, w, b, dout, param
            )
            contenders.update(c)
            contenders.update(_gemm_contenders(shape, x, w))
            winograd = _use_winograd(
                np.dtype(dtype), x.shape, w.shape, shape.stride, 1, shape.Ho, shape.Wo
            )
            path = "winograd" if winograd else "im2col"
            if winograd:
                contenders.update(_winograd_gemm_contenders(shape, np.dtype(dtype)))
            checks = {
                "im2col_matches_fast": bool(np.allclose(out_im2col, out_fast, rtol=1e-4, atol=1e-4))
            }
            if torch is not None:
                c, out_torch = _torch_contenders(torch, shape, x, w, b, dout)
                contenders.update(c)
                checks["torch_matches_fast"] = bool(
                    np.allclose(out_torch, out_fast, rtol=1e-3, atol=1e-3)
                )
            timings = interleaved(contenders, repeats, budget=budget)

            # Naive: its own rounds, on a slice, scaled linearly to the full shape.
            xs, ws, bs, ds, n, f, scale = _naive_slice(shape, x, w, b, dout)
            out_naive, naive_cache = conv_forward_naive(xs, ws, bs, param)
            checks["naive_matches_fast"] = bool(
                np.allclose(out_naive, out_fast[:n, :f], rtol=1e-4, atol=1e-4)
            )
            naive = interleaved(
                {
                    "naive.fwd": lambda: conv_forward_naive(xs, ws, bs, param),  # noqa: B023
                    "naive.bwd": lambda: conv_backward_naive(ds, naive_cache),  # noqa: B023
                },
                naive_repeats,
                min_sample=0.0,
                warmup_round=False,
            )
            for t in naive.values():
                t.samples = [v * scale for v in t.samples]
            timings.update(naive)

            for impl in ("naive", "im2col", "fast", "torch", "gemm", "wgemm"):
                if f"{impl}.fwd" in timings:
                    timings[f"{impl}.both"] = summed(timings[f"{impl}.fwd"], timings[f"{impl}.bwd"])

            for pass_ in PASSES:
                t = {
                    impl: timings.get(f"{impl}.{pass_}")
                    for impl in ("naive", "im2col", "fast", "torch", "gemm")
                }
                fast = t["fast"]
                wgemm = timings.get(f"wgemm.{pass_}")
                ratios = {
                    # naive and fast ran in different rounds: ratio of medians.
                    "naive_over_fast": t["naive"].median / fast.median,
                    "im2col_over_fast": paired_ratio(t["im2col"], fast),
                    "fast_over_torch": paired_ratio(fast, t["torch"]) if t["torch"] else None,
                    "fast_over_gemm": paired_ratio(fast, t["gemm"]),
                    "im2col_over_gemm": paired_ratio(t["im2col"], t["gemm"]),
                    "torch_over_gemm": paired_ratio(t["torch"], t["gemm"]) if t["torch"] else None,
                    # the Winograd path against its own 16 products (None on im2col rows)
                    "fast_over_winograd_gemm": paired_ratio(fast, wgemm) if wgemm else None,
                }
                row = {
                    "shape": shape.as_dict(),
                    "dtype": dname,
                    "pass": pass_,
                    "path": path,
                    "seconds": {k: (v.median if v else None) for k, v in t.items()},
                    "samples": {k: (len(v.samples) if v else 0) for k, v in t.items()},
                    "ratios": ratios,
                    "naive_slice": {"N": n, "F": f, "scale": scale},
                    "checks": checks,
                    "targets": [],
                }
                row_targets = []
                if pass_ == "both" and shape.label in TORCH_TARGET_SHAPES:
                    row_targets.append(
                        Target(
                            f"conv {shape.label} {dname} fast fwd+bwd / torch",
                            "conv",
                            ratios["fast_over_torch"],
                            "<=",
                            TORCH_LIMITS[dname],
                            note="" if torch else torch_reason or "",
                        )
                    )
                if pass_ == "both":
                    row_targets.append(
                        Target(
                            f"conv {shape.label} {dname} fast fwd+bwd / torch (issue 12)",
                            "conv",
                            ratios["fast_over_torch"],
                            "<=",
                            ISSUE12_TORCH_LIMIT,
                            note=_floor_note(
                                ratios, ISSUE12_TORCH_LIMIT, torch, torch_reason, path
                            ),
                        )
                    )
                if pass_ == "fwd":
                    row_targets.append(
                        Target(
                            f"conv {shape.label} {dname} fast fwd / GEMM",
                            "conv",
                            ratios["fast_over_gemm"],
                            "<=",
                            GEMM_LIMIT,
                        )
                    )
                    row_targets.append(
                        Target(
                            f"conv {shape.label} {dname} fast fwd / GEMM (issue 12)",
                            "conv",
                            ratios["fast_over_gemm"],
                            "<=",
                            ISSUE12_GEMM_LIMIT,
                        )
                    )
                if pass_ == "both":
                    row_targets.append(
                        Target(
                            f"conv {shape.label} {dname} naive / fast fwd+bwd",
                            "conv",
                            ratios["naive_over_fast"],
                            ">=",
                            NAIVE_LIMIT,
                        )
                    )
                row["targets"] = [tg.as_dict() for tg in row_targets]
                targets.extend(row_targets)
                rows.append(row)
    return {
        "status": "ok",
        "rows": rows,
        "targets": [t.as_dict() for t in targets],
        "torch_skip_reason": torch_reason,
        "notes": [
            "naive: timed on a slice of the images (and, for shape C, of the filters) and "
            "scaled linearly to the full shape (its loops are linear in both)",
            "both = forward + backward summed round by round",
            "torch fwd: F.conv2d with autograd on; torch bwd: aten.convolution_backward",
            "gemm: bare matmuls of the im2col sizes on ready-made operands: "
            "fwd (F, CKK)@(CKK, N*Ho*Wo); bwd dW and dcols products",
            "path: which conv_fast path the shape takes (conv_fast._use_winograd); wgemm: "
            "the Winograd path's 16 products (F, C)@(C, tiles) and their backward pair",
            "ratios with torch/gemm/im2col are medians of per-round ratios (interleaved)",
        ],
    }
