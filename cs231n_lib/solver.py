"""The training loop: minibatch gradient descent on any model with the CS231n model API.

A model has a ``params`` dict of arrays and a ``loss(X, y=None)`` method that returns the
class scores (N, C) when ``y`` is None and ``(loss, grads)`` otherwise, ``grads`` holding one
gradient per key of ``params``. :class:`cs231n_lib.convnet.ThreeLayerConvNet` and the
networks of :func:`cs231n_lib.net_builder.build_network` both qualify.

Example::

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    num_epochs=5, batch_size=50)
    solver.train()
    solver.check_accuracy(data["X_test"], data["y_test"])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from cs231n_lib import _validate
from cs231n_lib.optim import UPDATE_RULES

__all__ = ["Solver"]

_DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")


class Solver:
    """Train a classification model with minibatch SGD-style updates.

    Args:
        model: object with ``params`` (dict of arrays) and ``loss(X, y=None)``.
        data: dict with ``X_train`` (N_train, ...), ``y_train`` (N_train,) integer labels,
            ``X_val``, ``y_val`` likewise; other keys are ignored.
        update_rule: ``'sgd'``, ``'sgd_momentum'``, ``'adam'`` or a callable with the
            signature of :mod:`cs231n_lib.optim` rules.
        optim_config: hyperparameters given to the update rule for every parameter (each
            parameter gets its own copy, so state such as Adam's moments is not shared).
        lr_decay: the learning rate is multiplied by this after every epoch (0 < lr_decay <= 1).
        batch_size: examples per minibatch.
        num_epochs: passes over the training set.
        num_train_samples: training examples used to measure training accuracy each epoch
            (None: all of them).
        num_val_samples: validation examples used each epoch (None: all).
        print_every: print the loss every this many iterations when ``verbose``.
        verbose: print losses and per-epoch accuracies.
        progress: show a tqdm progress bar over the iterations (``tqdm.auto``: a widget in
            Jupyter, text in a terminal).
        seed: seed of the minibatch sampler (None: nondeterministic).
        callback: called as ``callback(solver)`` after every epoch's accuracy check, for
            example to redraw a live plot in a notebook.
    """

    def __init__(
        self,
        model: Any,
        data: Mapping[str, np.ndarray],
        update_rule: str | Callable = "adam",
        optim_config: Mapping[str, Any] | None = None,
        lr_decay: float = 1.0,
        batch_size: int = 100,
        num_epochs: int = 10,
        num_train_samples: int | None = 1000,
        num_val_samples: int | None = None,
        print_every: int = 100,
        verbose: bool = True,
        progress: bool = True,
        seed: int | None = None,
        callback: Callable[[Solver], None] | None = None,
    ) -> None:
        if not isinstance(getattr(model, "params", None), dict) or not callable(
            getattr(model, "loss", None)
        ):
            raise ValueError("model must have a dict .params and a .loss(X, y=None) method")
        if not isinstance(data, Mapping):
            raise ValueError(f"data must be a dict, got {type(data).__name__}")
        missing = [k for k in _DATA_KEYS if k not in data]
        if missing:
            raise ValueError(f"data is missing {missing}; it needs keys {list(_DATA_KEYS)}")
        for split in ("train", "val"):
            X, y = data[f"X_{split}"], data[f"y_{split}"]
            _validate.array(X, f"X_{split}")
            _validate.array(y, f"y_{split}", ndim=1, layout="(N,) labels")
            if y.dtype.kind not in "iu":
                raise ValueError(f"y_{split} must hold integer labels, got dtype {y.dtype}")
            if X.shape[0] != y.shape[0]:
                raise ValueError(
                    f"X_{split} has {X.shape[0]} examples but y_{split} has {y.shape[0]} labels"
                )
        if isinstance(update_rule, str):
            if update_rule not in UPDATE_RULES:
                raise ValueError(
                    f"update_rule must be one of {sorted(UPDATE_RULES)} or a callable, "
                    f"got {update_rule!r}"
                )
            self.update_rule = UPDATE_RULES[update_rule]
        elif callable(update_rule):
            self.update_rule = update_rule
        else:
            raise ValueError(f"update_rule must be a name or a callable, got {update_rule!r}")
        if optim_config is not None and not isinstance(optim_config, Mapping):
            raise ValueError("optim_config must be a dict")
        lr_decay = _validate.positive_real(lr_decay, "lr_decay")
        if lr_decay > 1:
            raise ValueError(f"lr_decay must satisfy 0 < lr_decay <= 1, got {lr_decay}")
        if callback is not None and not callable(callback):
            raise ValueError("callback must be callable or None")

        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        self.optim_config = dict(optim_config or {})
        self.lr_decay = lr_decay
        self.batch_size = _validate.positive_int(batch_size, "batch_size")
        self.num_epochs = _validate.positive_int(num_epochs, "num_epochs")
        self.num_train_samples = (
            None
            if num_train_samples is None
            else _validate.positive_int(num_train_samples, "num_train_samples")
        )
        self.num_val_samples = (
            None
            if num_val_samples is None
            else _validate.positive_int(num_val_samples, "num_val_samples")
        )
        self.print_every = _validate.positive_int(print_every, "print_every")
        self.verbose = bool(verbose)
        self.progress = bool(progress)
        self.callback = callback
        self.seed = seed
        self._reset()

    def _reset(self) -> None:
        """Fresh bookkeeping: histories, best parameters, one optimizer state per parameter."""
        self.rng = np.random.default_rng(self.seed)
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_params: dict[str, np.ndarray] = {}
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.optim_configs = {p: dict(self.optim_config) for p in self.model.params}

    def _log(self, message: str) -> None:
        if self.verbose:
            tqdm.write(message)

    def _step(self) -> float:
        """One minibatch: forward, backward, update every parameter. Returns the loss."""
        n = self.X_train.shape[0]
        idx = self.rng.choice(n, size=min(self.batch_size, n), replace=False)
        loss, grads = self.model.loss(self.X_train[idx], self.y_train[idx])
        loss = float(loss)
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"the loss became {loss} at iteration {len(self.loss_history) + 1}; "
                "lower the learning rate or the weight scale"
            )
        self.loss_history.append(loss)
        for name, w in self.model.params.items():
            if name not in grads:
                raise ValueError(f"model.loss returned no gradient for parameter {name!r}")
            next_w, next_config = self.update_rule(w, grads[name], self.optim_configs[name])
            self.model.params[name] = next_w
            self.optim_configs[name] = next_config
        return loss

    def check_accuracy(
        self,
        X: np.ndarray,
        y: np.ndarray,
        num_samples: int | None = None,
        batch_size: int = 100,
    ) -> float:
        """Fraction of ``X`` (N, ...) that the model classifies as ``y`` (N,).

        Args:
            num_samples: if given and < N, score a random subset of this size.
            batch_size: examples per forward pass (bounds the memory).
        """
        _validate.array(X, "X")
        _validate.array(y, "y", ndim=1, layout="(N,) labels")
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} examples but y has {y.shape[0]} labels")
        batch_size = _validate.positive_int(batch_size, "batch_size")
        n = X.shape[0]
        if num_samples is not None and _validate.positive_int(num_samples, "num_samples") < n:
            idx = self.rng.choice(n, size=num_samples, replace=False)
            X, y, n = X[idx], y[idx], num_samples
        preds = np.empty(n, dtype=np.int64)
        for start in range(0, n, batch_size):
            scores = self.model.loss(X[start : start + batch_size])
            preds[start : start + batch_size] = np.argmax(scores, axis=1)
        return float(np.mean(preds == y))

    def train(self) -> Solver:
        """Run the optimisation; afterwards ``model.params`` holds the best-validation weights.

        Returns the solver itself, so ``Solver(...).train().best_val_acc`` works.
        """
        n = self.X_train.shape[0]
        per_epoch = max(n // self.batch_size, 1)
        total = self.num_epochs * per_epoch
        bar = tqdm(total=total, disable=not self.progress, desc="training", unit="it")
        try:
            for it in range(total):
                loss = self._step()
                bar.update(1)
                if it % 10 == 0 or it == total - 1:
                    bar.set_postfix(loss=f"{loss:.3f}", epoch=self.epoch + 1, refresh=False)
                if it % self.print_every == 0:
                    self._log(f"(iteration {it + 1} / {total}) loss: {loss:.6f}")
                if (it + 1) % per_epoch == 0:
                    self.epoch += 1
                    for cfg in self.optim_configs.values():
                        if "learning_rate" in cfg:
                            cfg["learning_rate"] *= self.lr_decay
                    self._end_of_epoch()
        finally:
            bar.close()
        if self.best_params:
            for k, v in self.best_params.items():
                self.model.params[k] = v.copy()
        return self

    def _end_of_epoch(self) -> None:
        train_acc = self.check_accuracy(
            self.X_train, self.y_train, num_samples=self.num_train_samples
        )
        val_acc = self.check_accuracy(self.X_val, self.y_val, num_samples=self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self._log(
            f"(epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:.3f}; "
            f"val acc: {val_acc:.3f}; loss: {self.loss_history[-1]:.4f}"
        )
        if val_acc > self.best_val_acc or not self.best_params:
            self.best_val_acc = val_acc
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        if self.callback is not None:
            self.callback(self)
