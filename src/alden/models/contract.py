"""What every learner is, whatever its family: the ``Learner`` Protocol the strategies, the
experiments and the project read, the ``TrainConfig`` it trains with, the ``EncodedData`` it
is built for, and its label check.

No torch here: the project's commands and the factory import it to type and configure
learners before any model is built.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np

from alden.errors import AldenError, DataError

MONITORS = ("accuracy", "loss")


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained; defaults measured on Subj and MR (docs/training.md)."""

    lr: float = 4e-3
    batch_size: int = 50
    max_epochs: int = 20
    patience: int = 3  # validation checks without improvement before stopping
    monitor: str = "accuracy"  # on validation: "accuracy" (ties go to lower loss) or "loss"
    fixed_epochs: int = 10  # epochs when there is no validation data
    min_items_per_check: int = 1000  # validate after at least this many items of training
    weight_decay: float = 0.0
    warm_start: bool = False  # keep the previous fit's weights instead of a new model
    bucket_batches: int = 20  # batches per length-sorted chunk of the shuffled data
    eval_batch_size: int = 256
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.monitor not in MONITORS:
            raise AldenError(f"TrainConfig.monitor must be one of {MONITORS}, "
                             f"got {self.monitor!r}")
        for name in ("batch_size", "max_epochs", "fixed_epochs", "patience",
                     "bucket_batches", "eval_batch_size", "min_items_per_check"):
            if getattr(self, name) < 1:
                raise AldenError(f"TrainConfig.{name} must be at least 1, "
                                 f"got {getattr(self, name)}")
        if not self.lr > 0:
            raise AldenError(f"TrainConfig.lr must be positive, got {self.lr}")


class EncodedData(Protocol):
    """What a learner is built for: a prepared data set or a project's data both have it."""

    @property
    def kind(self) -> str: ...

    @property
    def classes(self) -> tuple[str, ...]: ...

    @property
    def x(self) -> np.ndarray: ...

    @property
    def embeddings(self) -> np.ndarray | None: ...


class Learner(Protocol):
    """A model name, its training config and, once ``fit``, a trained model: what the
    simulation, the project's commands and every strategy on any pool read.

    The gradient quantities of one kind of data (``egl_word_scores``, ``input_jacobian``,
    ...) are the strategies' narrower Protocols (``alden.strategies.base``)."""

    model_name: str
    n_classes: int
    config: TrainConfig
    history: list[dict[str, float]]  # one record per epoch of the last fit

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None, *, seed: int,
            on_epoch: Callable[..., None] | None = None) -> Learner: ...

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def predict_proba_mc(self, x: np.ndarray, samples: int, seed: int) -> np.ndarray: ...

    def hidden(self, x: np.ndarray) -> np.ndarray: ...

    def badge_embeddings(self, x: np.ndarray) -> np.ndarray: ...

    def save(self, path: str | os.PathLike) -> None: ...


class ReadsUnlabeled(Learner, Protocol):
    """A learner whose ``fit`` may read the pool's unlabeled items (a self-training
    ``+setfit`` model): ``reads_unlabeled`` says whether this one does."""

    reads_unlabeled: bool

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None, *, seed: int,
            on_epoch: Callable[..., None] | None = None,
            unlabeled: np.ndarray | None = None) -> Learner: ...


def fit_learner(learner: Learner, x: np.ndarray, y: np.ndarray,
                x_val: np.ndarray | None = None, y_val: np.ndarray | None = None, *,
                seed: int, on_epoch: Callable[..., None] | None = None,
                unlabeled: Callable[[], np.ndarray] | None = None) -> Learner:
    """``learner.fit(x, y, x_val, y_val, seed=seed, on_epoch=on_epoch)``; a learner whose
    ``reads_unlabeled`` is true also gets ``unlabeled()``, the pool's unlabeled items (only
    then gathered, and only then passed: the Learner contract's ``fit`` stays as it is for
    every other family). The simulation and the project fit every model through this."""
    options: dict[str, Any] = {} if on_epoch is None else {"on_epoch": on_epoch}
    if unlabeled is not None and getattr(learner, "reads_unlabeled", False):
        reader = cast(ReadsUnlabeled, learner)
        return reader.fit(x, y, x_val, y_val, seed=seed, unlabeled=unlabeled(), **options)
    return learner.fit(x, y, x_val, y_val, seed=seed, **options)


def check_labels(y: np.ndarray, n: int, n_classes: int, what: str) -> np.ndarray:
    """``y`` as int64 if it holds ``n`` integer labels in [0, n_classes), else a DataError."""
    y = np.asarray(y)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{what} must be {n} integer labels, got shape {y.shape} of "
                        f"dtype {y.dtype}")
    if y.min() < 0 or y.max() >= n_classes:
        raise DataError(f"{what}: labels must lie in [0, {n_classes}), found "
                        f"{y.min()}..{y.max()} (unlabeled items, -1, cannot be trained on)")
    return y.astype(np.int64, copy=False)
