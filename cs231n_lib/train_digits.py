"""Train a small ConvNet on the handwritten digits that ship with scikit-learn.

Run ``python -m cs231n_lib.train_digits`` (``--help`` for options). It trains
:class:`cs231n_lib.convnet.ThreeLayerConvNet` (or, with ``--pattern``, a network from
:func:`cs231n_lib.net_builder.build_network`) with Adam, shows a progress bar, prints the
loss and accuracies after every epoch and the final test accuracy. No network access.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from threadpoolctl import threadpool_limits

from cs231n_lib.convnet import ThreeLayerConvNet
from cs231n_lib.datasets import load_digits
from cs231n_lib.solver import Solver

__all__ = ["train", "main"]


def train(
    epochs: int = 12,
    seed: int = 0,
    pattern: str | None = None,
    learning_rate: float = 2e-3,
    batch_size: int = 32,
    progress: bool = True,
    verbose: bool = True,
    threads: int | None = 1,
) -> dict[str, Any]:
    """Train on the digits and report.

    Args:
        epochs: passes over the training set.
        seed: seeds the data split, the initialisation and the minibatches.
        pattern: a builder pattern (e.g. ``'INPUT -> [CONV -> RELU -> POOL]*2 -> FC'``) instead
            of ThreeLayerConvNet (32 filters 5x5, hidden 200, L2 1e-3).
        learning_rate: Adam's step size.
        threads: BLAS threads during training (None: the library default). The matrices are
            small, so one thread is fastest; several threads on a busy machine can be 10x
            slower.

    Returns:
        dict with ``test_acc``, ``best_val_acc``, ``seconds`` (training wall time),
        ``model`` and ``solver``.
    """
    data = load_digits(seed=seed)
    input_dim = data["X_train"].shape[1:]
    if pattern is None:
        model: Any = ThreeLayerConvNet(
            input_dim=input_dim,
            num_filters=32,
            filter_size=5,
            hidden_dim=200,
            num_classes=10,
            weight_scale=1e-2,
            reg=1e-3,
            seed=seed,
        )
    else:
        from cs231n_lib.net_builder import build_network

        model = build_network(pattern, input_dim=input_dim, num_classes=10, reg=1e-3, seed=seed)
    solver = Solver(
        model,
        data,
        update_rule="adam",
        optim_config={"learning_rate": learning_rate},
        lr_decay=0.9,
        batch_size=batch_size,
        num_epochs=epochs,
        num_train_samples=None,
        print_every=10**9,
        verbose=verbose,
        progress=progress,
        seed=seed,
    )
    with threadpool_limits(limits=threads):
        start = time.perf_counter()
        solver.train()
        seconds = time.perf_counter() - start
        test_acc = solver.check_accuracy(data["X_test"], data["y_test"])
    return {
        "test_acc": test_acc,
        "best_val_acc": solver.best_val_acc,
        "seconds": seconds,
        "model": model,
        "solver": solver,
    }


def main(argv: Sequence[str] | None = None) -> float:
    """Command-line entry point; returns the test accuracy (the exit status is always 0)."""
    parser = argparse.ArgumentParser(
        prog="python -m cs231n_lib.train_digits",
        description="Train a small ConvNet on scikit-learn's 8x8 handwritten digits.",
    )
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--pattern", default=None, help="build this pattern instead")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (0: default)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args(argv)
    result = train(
        epochs=args.epochs,
        seed=args.seed,
        pattern=args.pattern,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        progress=not args.no_progress,
        verbose=not args.quiet,
        threads=args.threads or None,
    )
    print(
        f"test accuracy {result['test_acc']:.4f} (best validation {result['best_val_acc']:.4f}); "
        f"training took {result['seconds']:.1f} s"
    )
    return result["test_acc"]


if __name__ == "__main__":
    main()
