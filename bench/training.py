"""One training epoch of ThreeLayerConvNet on the digits: time and peak memory.

Time: the library's epoch (Solver, Adam) against the same network, batch size, optimizer
and number of steps written in PyTorch, interleaved. Memory: the peak of ``tracemalloc``
(NumPy reports its array buffers to it) over one epoch, above what was allocated before it,
against ``ThreeLayerConvNet.memory_estimate``.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np

from bench.harness import Target, interleaved, load_torch, paired_ratio

#: The configuration of ``python -m cs231n_lib.train_digits``.
CONFIG = {
    "num_filters": 32,
    "filter_size": 5,
    "hidden_dim": 200,
    "weight_scale": 1e-2,
    "reg": 1e-3,
    "batch_size": 32,
    "learning_rate": 2e-3,
}


def _data(quick: bool) -> dict[str, np.ndarray]:
    from cs231n_lib.datasets import load_digits

    data = load_digits(seed=0)
    if quick:
        data = dict(data)
        data["X_train"], data["y_train"] = data["X_train"][:64], data["y_train"][:64]
        data["X_val"], data["y_val"] = data["X_val"][:32], data["y_val"][:32]
    return data


def _model(data: dict[str, np.ndarray]):
    from cs231n_lib.convnet import ThreeLayerConvNet

    return ThreeLayerConvNet(
        input_dim=data["X_train"].shape[1:],
        num_filters=CONFIG["num_filters"],
        filter_size=CONFIG["filter_size"],
        hidden_dim=CONFIG["hidden_dim"],
        num_classes=10,
        weight_scale=CONFIG["weight_scale"],
        reg=CONFIG["reg"],
        seed=0,
    )


def _library_epoch(data: dict[str, np.ndarray]):
    from cs231n_lib.solver import Solver

    model = _model(data)
    solver = Solver(
        model,
        data,
        update_rule="adam",
        optim_config={"learning_rate": CONFIG["learning_rate"]},
        batch_size=CONFIG["batch_size"],
        num_epochs=1,
        num_train_samples=None,
        verbose=False,
        progress=False,
        seed=0,
    )
    solver.train()
    return model, solver


def _torch_epoch_factory(torch, data: dict[str, np.ndarray]):
    """The same network, loss, Adam and minibatch schedule in PyTorch (float32)."""
    nn = torch.nn
    X = torch.from_numpy(data["X_train"])
    y = torch.from_numpy(data["y_train"])
    Xv = torch.from_numpy(data["X_val"])
    C, H, W = data["X_train"].shape[1:]
    F, K = CONFIG["num_filters"], CONFIG["filter_size"]
    n = X.shape[0]
    batch = CONFIG["batch_size"]
    steps = max(n // batch, 1)

    def epoch() -> None:
        torch.manual_seed(0)
        net = nn.Sequential(
            nn.Conv2d(C, F, K, padding=(K - 1) // 2),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(F * (H // 2) * (W // 2), CONFIG["hidden_dim"]),
            nn.ReLU(),
            nn.Linear(CONFIG["hidden_dim"], 10),
        )
        # Adam with the L2 term in the gradient, as the library's loss adds 0.5*reg*||W||^2.
        opt = torch.optim.Adam(
            net.parameters(), lr=CONFIG["learning_rate"], weight_decay=CONFIG["reg"]
        )
        gen = torch.Generator().manual_seed(0)
        for _ in range(steps):
            idx = torch.randperm(n, generator=gen)[:batch]
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(net(X[idx]), y[idx])
            loss.backward()
            opt.step()
        with torch.no_grad():  # the library's end-of-epoch accuracy checks
            for start in range(0, n, 100):
                net(X[start : start + 100]).argmax(1)
            for start in range(0, Xv.shape[0], 100):
                net(Xv[start : start + 100]).argmax(1)

    return epoch, steps


def _peak_memory(data: dict[str, np.ndarray]) -> dict[str, Any]:
    """tracemalloc peak over one epoch, above the bytes already allocated when it started."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        model, solver = _library_epoch(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    batch = CONFIG["batch_size"]
    estimate = model.memory_estimate(batch) if hasattr(model, "memory_estimate") else None
    # The end-of-epoch accuracy checks run forward passes on batches of 100.
    eval_estimate = (
        model.memory_estimate(100, include_backward=False)
        if hasattr(model, "memory_estimate")
        else None
    )
    return {
        "peak_bytes": int(peak - before),
        "estimate": estimate,
        "eval_estimate_batch_100": eval_estimate,
        "val_acc": solver.val_acc_history[-1] if solver.val_acc_history else None,
        "iterations": len(solver.loss_history),
    }


def run(*, quick: bool = False, repeats: int = 5, budget: float = 20.0, log=print) -> dict:
    torch, torch_reason = load_torch()
    data = _data(quick)
    log(f"  train 1 epoch, {data['X_train'].shape[0]} digits, batch {CONFIG['batch_size']} ...")
    contenders: dict[str, Any] = {"library": lambda: _library_epoch(data)}
    steps = max(data["X_train"].shape[0] // CONFIG["batch_size"], 1)
    if torch is not None:
        epoch, steps = _torch_epoch_factory(torch, data)
        contenders["torch"] = epoch
    timings = interleaved(contenders, repeats, budget=budget, min_sample=0.0)
    memory = _peak_memory(data)
    ratios = {
        "library_over_torch": (
            paired_ratio(timings["library"], timings["torch"]) if "torch" in timings else None
        ),
        "peak_over_estimate": (
            memory["peak_bytes"] / memory["estimate"]["total_bytes"] if memory["estimate"] else None
        ),
    }
    targets = []
    if memory["estimate"] is None:
        note = "ThreeLayerConvNet has no memory_estimate"
    else:
        note = "the estimate is documented as a lower bound: the ratio should be >= 1"
    targets.append(
        Target(
            "train peak memory / memory_estimate (lower bound)",
            "train",
            ratios["peak_over_estimate"],
            ">=",
            1.0,
            note=note,
            kind="check",
        )
    )
    return {
        "status": "ok",
        "config": CONFIG,
        "train_images": int(data["X_train"].shape[0]),
        "steps": steps,
        "seconds": {k: v.median for k, v in timings.items()},
        "samples": {k: len(v.samples) for k, v in timings.items()},
        "ratios": ratios,
        "memory": memory,
        "targets": [t.as_dict() for t in targets],
        "torch_skip_reason": torch_reason,
        "notes": [
            "an epoch = the Solver's steps plus its end-of-epoch accuracy checks; torch runs "
            "the same steps, batch size, Adam and checks (float32, one thread)",
            "peak = tracemalloc peak during one epoch above the bytes allocated before it",
        ],
    }
