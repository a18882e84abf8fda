"""NetworkLearner, the network family's learner (TextCNN, BiLSTM, MLP): trains a model from
scratch on a labeled set and answers what strategies ask (``alden.models.contract.Learner``).

Training is Adam on mini-batches; text batches hold sentences of similar length, cut to
their longest sentence, so no work is spent on pads. Early stopping watches the validation
split and restores the best weights. Same seed, same machine: same weights (on CPU).
The per-sample quantities live in ``alden.models.quantities``; the methods here only delegate.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from alden.data.mapped import value_range
from alden.errors import AldenError, DataError
from alden.models import quantities
from alden.models.contract import TrainConfig, check_labels
from alden.models.networks import TEXT_MODELS, Network, build_model, model_config
from alden.models.outputs import DEFAULT_OUTPUT
from alden.models.quantities import token_lengths
from alden.models.saved import load_weights, saved_config, write_learner


def length_buckets(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                   bucket_batches: int = 20) -> list[np.ndarray]:
    """Shuffled batches of similar length: shuffle, sort chunks by length, cut, shuffle batches.

    A chunk spans ``bucket_batches`` batches, so batches stay random across epochs while
    the sentences within one differ little in length (little padding to compute on).
    """
    order = rng.permutation(len(lengths))
    chunk = batch_size * bucket_batches
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _random_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


class NetworkLearner:
    """A model name, its options and a training config; ``fit`` makes and trains the model."""

    family = "network"  # the family its saved files name (alden.models.families)
    # per-item outputs depend only on the batches alden.models.quantities cuts, so a pass
    # may be split at batch boundaries in that order (alden.strategies.base.rows_pass)
    rows_in_batches = True

    def __init__(self, model_name: str, *, n_classes: int, config: TrainConfig | None = None,
                 vocab_size: int | None = None, embeddings: np.ndarray | None = None,
                 n_features: int | None = None, device: str | torch.device | None = None,
                 **model_options: Any) -> None:
        model_config(model_name, **model_options)  # unknown names and options fail here
        self.model_name = model_name
        self.n_classes = int(n_classes)
        self.config = config if config is not None else TrainConfig()
        self.embeddings = None if embeddings is None else np.asarray(embeddings, np.float32)
        self.vocab_size = vocab_size if self.embeddings is None else len(self.embeddings)
        self.n_features = n_features
        self.model_options = model_options
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model: Network | None = None
        self.history: list[dict[str, float]] = []  # one entry per validation check
        with torch.random.fork_rng(devices=[]):  # bad sizes fail now, not in the first fit
            build_model(model_name, n_classes=self.n_classes, vocab_size=self.vocab_size,
                        embeddings=self.embeddings, n_features=n_features, **model_options)

    @property
    def is_text(self) -> bool:
        return self.model_name in TEXT_MODELS

    def new_model(self) -> Network:
        """A freshly initialised model on the learner's device (uses torch's global RNG)."""
        model = build_model(self.model_name, n_classes=self.n_classes,
                            vocab_size=self.vocab_size, embeddings=self.embeddings,
                            n_features=self.n_features, **self.model_options)
        return model.to(self.device)

    # ------------------------------------------------------------ input checks

    def _check_x(self, x: np.ndarray, what: str) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or len(x) == 0:
            raise DataError(f"{what} must be a non-empty 2-D array, got shape {x.shape}")
        if self.is_text:
            if not np.issubdtype(x.dtype, np.integer):
                raise DataError(f"{what}: model {self.model_name!r} reads token ids (integers), "
                                f"got dtype {x.dtype}")
            low, high = value_range(x)
            if low < 0 or (self.vocab_size is not None and high >= self.vocab_size):
                raise DataError(f"{what}: token ids must lie in [0, {self.vocab_size}), "
                                f"found {low}..{high}")
            return x.astype(np.int64, copy=False)
        if x.shape[1] != self.n_features:
            raise DataError(f"{what} has {x.shape[1]} columns, the model expects "
                            f"{self.n_features}")
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            raise DataError(f"{what} holds NaN or infinite values (impute and scale first)")
        return x

    def _require_model(self) -> Network:
        if self.model is None:
            raise AldenError("the learner has no model yet: call fit first")
        return self.model

    # ------------------------------------------------------------ training

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None, *, seed: int,
            on_epoch: Callable[[NetworkLearner, dict[str, float]], None] | None = None
            ) -> NetworkLearner:
        """Train a new model (or the last one, with warm_start) on ``x, y``; returns self.

        With validation data: up to ``max_epochs`` epochs, stopping after ``patience``
        checks without improvement, best weights restored. Without: ``fixed_epochs``.
        ``on_epoch(learner, record)`` is called after each epoch with its history record
        (progress display, learning-curve studies); it must not train the model.
        """
        x = self._check_x(x, "x")
        y = check_labels(y, len(x), self.n_classes, "y")
        if (x_val is None) != (y_val is None):
            raise AldenError("give both x_val and y_val, or neither")
        val = None
        if x_val is not None and y_val is not None:
            x_val = self._check_x(x_val, "x_val")
            val = x_val, check_labels(y_val, len(x_val), self.n_classes, "y_val")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise AldenError(f"seed must be an integer, got {seed!r}")
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # the caller's torch RNG is untouched
            torch.manual_seed(int(seed))
            if self.model is None or not self.config.warm_start:
                self.model = self.new_model()
            self._train(x, y, val, np.random.default_rng(int(seed)), on_epoch)
        return self

    def _train(self, x: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None,
               rng: np.random.Generator,
               on_epoch: Callable[[NetworkLearner, dict[str, float]], None] | None) -> None:
        """The epoch loop: train, validate now and then, keep the best, stop when stale."""
        cfg, model = self.config, self._require_model()
        # The fused kernel updates all parameters in one pass: on CPU it took a third off
        # a TextCNN epoch, most of which is Adam on the (vocab x 100) embedding table.
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr,
                                     weight_decay=cfg.weight_decay, fused=True)
        lengths = token_lengths(x) if self.is_text else None
        epochs = cfg.max_epochs if val is not None else cfg.fixed_epochs
        # Validating costs a pass over x_val: with a small labeled set, check every few
        # epochs so that training, not validation, takes most of the time.
        check_every = max(1, math.ceil(cfg.min_items_per_check / len(x)))
        best_key, best_state, since_best = None, None, 0
        self.history = []
        bar = tqdm(range(epochs), desc=f"fit {self.model_name}", unit="epoch",
                   disable=not cfg.verbose, leave=False)
        for epoch in bar:
            record = {"epoch": epoch + 1, **self._epoch(x, y, lengths, optimizer, rng)}
            if val is not None and ((epoch + 1) % check_every == 0 or epoch == epochs - 1):
                record.update(self._validate(*val))
                key = ((-record["val_accuracy"], record["val_loss"]) if cfg.monitor == "accuracy"
                       else (record["val_loss"],))
                if best_key is None or key < best_key:
                    best_key, since_best = key, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    since_best += 1
            self.history.append(record)
            if on_epoch is not None:
                on_epoch(self, record)
            bar.set_postfix({k: round(v, 4) for k, v in record.items()
                             if k in ("train_loss", "val_loss", "val_accuracy")})
            if since_best >= cfg.patience:
                break
        bar.close()
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()

    def _epoch(self, x: np.ndarray, y: np.ndarray, lengths: np.ndarray | None,
               optimizer: torch.optim.Optimizer, rng: np.random.Generator) -> dict[str, float]:
        """One pass over the labeled set; its mean loss and seconds."""
        cfg, model = self.config, self._require_model()
        started, total_loss = time.perf_counter(), 0.0
        model.train()
        if lengths is None:
            batches = _random_batches(len(x), cfg.batch_size, rng)
        else:
            batches = length_buckets(lengths, cfg.batch_size, rng, cfg.bucket_batches)
        for idx in batches:
            xb = torch.from_numpy(x[idx])
            if lengths is not None:
                xb = xb[:, :max(1, int(lengths[idx].max()))]  # no work on pads
            loss = F.cross_entropy(model(xb.to(self.device)),
                                   torch.from_numpy(y[idx]).to(self.device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += float(loss.detach()) * len(idx)
        return {"train_loss": total_loss / len(x), "train_seconds": time.perf_counter() - started}

    def _validate(self, x_val: np.ndarray, y_val: np.ndarray) -> dict[str, float]:
        """Validation loss and accuracy, and the seconds they took."""
        started = time.perf_counter()
        proba = self.predict_proba(x_val)
        picked = proba[np.arange(len(y_val)), y_val]
        return {"val_loss": float(-np.log(np.maximum(picked, 1e-12)).mean()),
                "val_accuracy": float((proba.argmax(1) == y_val).mean()),
                "val_seconds": time.perf_counter() - started}

    # ------------------------------------------------------------ what strategies read

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, C), eval mode, batched by length."""
        return quantities.predict_proba(self._require_model(), self._check_x(x, "x"),
                                        batch_size=self.config.eval_batch_size)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The most probable class per item (N,)."""
        return self.predict_proba(x).argmax(axis=1)

    def predict_proba_mc(self, x: np.ndarray, samples: int, seed: int) -> np.ndarray:
        """Probabilities under MC dropout (samples, N, C), for BALD."""
        return quantities.predict_proba_mc(self._require_model(), self._check_x(x, "x"),
                                           samples, seed,
                                           batch_size=self.config.eval_batch_size)

    def hidden(self, x: np.ndarray) -> np.ndarray:
        """The input of the last linear layer (N, H), for CORESET."""
        return quantities.hidden(self._require_model(), self._check_x(x, "x"),
                                 batch_size=self.config.eval_batch_size)

    def badge_embeddings(self, x: np.ndarray) -> np.ndarray:
        """BADGE's last-layer gradient embeddings (N, C*H) with the predicted label."""
        return quantities.badge_embeddings(self._require_model(), self._check_x(x, "x"),
                                           batch_size=self.config.eval_batch_size)

    def egl_word_scores(self, x: np.ndarray) -> np.ndarray:
        """EGL-Word scores (N,) for text."""
        return quantities.egl_word_scores(self._require_model(), self._check_x(x, "x"),
                                          batch_size=self.config.eval_batch_size)

    def egl_input_scores(self, x: np.ndarray) -> np.ndarray:
        """Expected input-gradient length (N,) for tables."""
        return quantities.egl_input_scores(self._require_model(), self._check_x(x, "x"),
                                           batch_size=self.config.eval_batch_size)

    def token_interpretations(self, x: np.ndarray, output: str = DEFAULT_OUTPUT
                              ) -> list[np.ndarray]:
        """ALDEN's Eq. (4): per sentence a (len_i, C) array of (d yhat_c / d e_ij) . e_ij."""
        return quantities.token_interpretations(self._require_model(), self._check_x(x, "x"),
                                                output, batch_size=self.config.eval_batch_size)

    def token_interpretations_flat(self, x: np.ndarray, output: str = DEFAULT_OUTPUT
                                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Eq. (4) as one (T, C) array and the items' offsets (N+1,), no per-item arrays; and
        the class probabilities (N, C) the pass computes on the way (``predict_proba``'s)."""
        model, x = self._require_model(), self._check_x(x, "x")
        dtype = torch.empty(0, dtype=model.head.weight.dtype).numpy().dtype  # the model's
        proba = np.zeros((len(x), self.n_classes), dtype=dtype)
        values, offsets = quantities.token_interpretations_flat(
            model, x, output, batch_size=self.config.eval_batch_size, proba=proba)
        return values, offsets, proba

    def input_jacobian(self, x: np.ndarray, output: str = DEFAULT_OUTPUT) -> np.ndarray:
        """DAMI's interpretations (N, C*F): d yhat / d x, flattened class-major."""
        return quantities.input_jacobian(self._require_model(), self._check_x(x, "x"),
                                         output, batch_size=self.config.eval_batch_size)

    def word_embeddings(self) -> np.ndarray:
        """The fine-tuned embedding matrix (V, d)."""
        return quantities.word_embeddings(self._require_model())

    # ------------------------------------------------------------ saving

    def save(self, path: str | os.PathLike) -> None:
        """Weights (a state dict), the initial word vectors and a JSON description in one
        file, written whole (``alden.models.saved``); ``load_learner`` reads it back."""
        model = self._require_model()
        description = {"family": self.family, "model_name": self.model_name,
                       "n_classes": self.n_classes, "vocab_size": self.vocab_size,
                       "n_features": self.n_features, "model_options": self.model_options,
                       "config": asdict(self.config)}
        tensors: dict[str, Any] = {
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
        if self.embeddings is not None:  # the initial vectors, so that a refit starts alike
            tensors["initial_embeddings"] = torch.from_numpy(self.embeddings)
        write_learner(path, description, tensors)

    @classmethod
    def from_saved(cls, payload: dict[str, Any], description: dict[str, Any],
                   path: str | os.PathLike,
                   device: str | torch.device | None = None) -> NetworkLearner:
        """The learner ``save`` wrote, from the payload ``alden.models.saved`` read."""
        embeddings = payload.get("initial_embeddings")
        learner = cls(description["model_name"], n_classes=description["n_classes"],
                      config=saved_config(description), vocab_size=description["vocab_size"],
                      embeddings=None if embeddings is None else embeddings.numpy(),
                      n_features=description["n_features"], device=device,
                      **description["model_options"])
        with torch.random.fork_rng(devices=[]):
            model = learner.new_model()
        load_weights(model, payload["state_dict"], path)
        learner.model = model.eval()
        return learner
