"""EncoderLearner, the encoder family's: a pretrained sentence encoder with a classification
head, behind the learner contract (``alden.models.contract.Learner``; also
egl_word_scores, token_interpretations, word_embeddings for the text strategies). Two regimes:

* ``frozen`` (default): the encoder never changes, so each item is encoded once and its
  pooled embedding kept (``PooledTable``, filled from the per-item disk cache of
  ``alden.models.encoder_cache.cached_pooled``); ``fit`` trains only dropout + linear head on
  those embeddings (seconds). Predictions, MC dropout (on the head's input, as BALD asks),
  CORESET's hidden layer and BADGE's embeddings read the table. EGL-Word and ALDEN's
  interpretations differentiate through the whole frozen encoder with respect to its input
  piece embeddings (``alden.models.quantities`` on ``EncoderClassifier``).
* ``finetune``: encoder and head trained together each round with cross-entropy (AdamW, the
  encoder at ``lr * encoder_lr_scale``), everything computed through the model; meant for a
  GPU (on a CPU it works for small pools and says how long a fit takes).
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alden.data.text import PieceVocab
from alden.errors import AldenError, DataError
from alden.models import quantities
from alden.models.contract import EncodedData, TrainConfig, check_labels
from alden.models.encoder import EncoderClassifier, load_encoder
from alden.models.encoder_cache import PooledTable, cached_pooled, encode_pooled, shared_table
from alden.models.encoder_weights import is_encoder, split_regime
from alden.models.outputs import DEFAULT_OUTPUT
from alden.models.saved import load_weights, saved_config, write_learner

if TYPE_CHECKING:
    from torch.optim.optimizer import ParamsT

REGIMES = ("frozen", "finetune")
# Head training on cached embeddings: many cheap epochs, validation every epoch.
# Passes through the encoder run 32 items a batch: a batch is as long as its longest item, and
# on 300 Subj items (a long tail of lengths) batches of 256 took 2.8x the CPU of 32.
FROZEN_DEFAULTS = {"lr": 1e-2, "batch_size": 32, "max_epochs": 100, "patience": 10,
                   "fixed_epochs": 50, "min_items_per_check": 1, "eval_batch_size": 32}
# Whole-model training: a few epochs at a transformer's usual rate (head at 100x).
FINETUNE_DEFAULTS = {"lr": 2e-5, "batch_size": 16, "max_epochs": 4, "patience": 2,
                     "fixed_epochs": 3, "min_items_per_check": 1, "eval_batch_size": 32}
ANNOUNCE_SECONDS = 30.0  # a fine-tuning fit expected to take longer says so on stderr

# Validation data: pooled embeddings as a tensor (frozen) or piece ids (finetune), labels.
Validation = tuple[torch.Tensor | np.ndarray, np.ndarray]
OnEpoch = Callable[["EncoderLearner", dict[str, float]], None]


class EncoderLearner:
    """A sentence encoder (``model_name``: ``minilm`` or ``encoder:NAME_OR_PATH``) with a
    dropout + linear head; see the module docstring for the two ``regime`` s."""

    family = "encoder"

    def __init__(self, model_name: str, *, n_classes: int, config: TrainConfig | None = None,
                 regime: str = "frozen", dropout: float = 0.1,
                 device: str | torch.device | None = None, table: PooledTable | None = None,
                 cache: bool = True, **ignored: object) -> None:
        if not is_encoder(model_name):
            raise AldenError(f"not an encoder model: {model_name!r}")
        if regime not in REGIMES:
            raise AldenError(f"regime must be one of {', '.join(REGIMES)}, got {regime!r}")
        if not 0 <= dropout < 1:
            raise AldenError(f"dropout must be in [0, 1), got {dropout}")
        if n_classes < 2:
            raise AldenError(f"a classifier needs at least 2 classes, got {n_classes}")
        self.model_name, self.n_classes = model_name, int(n_classes)
        self.regime, self.dropout, self.cache = regime, float(dropout), cache
        self.config = config if config is not None else encoder_config(None, regime)
        self.encoder = load_encoder(model_name)
        self.vocab_size = len(self.encoder.vocab)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.table = table
        self.model: EncoderClassifier | None = None
        self.history: list[dict[str, float]] = []
        # hears (done, total) as items the table lacks are encoded: a project's query shows it
        self.on_encode: Callable[[int, int], None] | None = None

    is_text = True

    # ------------------------------------------------------------ model and inputs

    def new_model(self) -> EncoderClassifier:
        frozen = self.regime == "frozen"  # one frozen transformer serves every such learner
        model = EncoderClassifier(self.encoder, self.n_classes, self.dropout,
                                  shared=frozen).to(self.device)
        model.set_encoder_trainable(self.regime == "finetune")
        return model

    def _check_x(self, x: np.ndarray, what: str) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or len(x) == 0 or not np.issubdtype(x.dtype, np.integer):
            raise DataError(f"{what} must be a non-empty 2-D array of piece ids, got shape "
                            f"{x.shape} of dtype {x.dtype}")
        if x.min() < 0 or x.max() >= self.vocab_size:
            raise DataError(f"{what}: piece ids must lie in [0, {self.vocab_size}), found "
                            f"{x.min()}..{x.max()} (was it encoded for another model?)")
        quantities.token_lengths(x)  # pads must trail
        return x.astype(np.int64, copy=False)

    def _require_model(self) -> EncoderClassifier:
        if self.model is None:
            raise AldenError("the learner has no model yet: call fit first")
        return self.model

    def pooled(self, x: np.ndarray) -> np.ndarray:
        """Pooled embeddings (N, H) of items: frozen, from the table (items not in it are
        read from the disk cache or encoded there, and added); fine-tuned, through the
        current encoder."""
        x = self._check_x(x, "x")
        if self.regime == "finetune":
            return encode_pooled(self.encoder, x, batch_size=self.config.eval_batch_size,
                                 model=self._require_model())
        if self.table is None:
            self.table = PooledTable(x, cached_pooled(self.encoder, x, cache=self.cache))
        rows = self.table.lookup(x)
        missing = np.flatnonzero(rows < 0)
        if missing.size:
            new = np.unique(x[missing], axis=0)
            self.table.add(new, self._pooled_new(new))
            rows = self.table.lookup(x)
        return self.table.pooled[rows]

    def _pooled_new(self, x: np.ndarray) -> np.ndarray:
        """The frozen encoder's pooled embeddings of items the table lacks (disk cache)."""
        return cached_pooled(self.encoder, x, cache=self.cache,
                             batch_size=self.config.eval_batch_size, on_progress=self.on_encode)

    # ------------------------------------------------------------ training

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None, *, seed: int,
            on_epoch: OnEpoch | None = None) -> EncoderLearner:
        """Train a new head (frozen) or encoder and head (finetune) on ``x, y``."""
        x = self._check_x(x, "x")
        y = check_labels(y, len(x), self.n_classes, "y")
        if (x_val is None) != (y_val is None):
            raise AldenError("give both x_val and y_val, or neither")
        if x_val is not None and y_val is not None:
            x_val = self._check_x(x_val, "x_val")
            y_val = check_labels(y_val, len(x_val), self.n_classes, "y_val")
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seed))
            self.model = model = self.new_model()
            rng = np.random.default_rng(int(seed))
            if self.regime == "frozen":
                inputs = torch.from_numpy(self.pooled(x)).to(self.device)
                val: Validation | None = None
                if x_val is not None and y_val is not None:
                    val = torch.from_numpy(self.pooled(x_val)).to(self.device), y_val
                self._loop(lambda idx: model.head(model.dropout(inputs[idx])),
                           len(x), y, val, rng, on_epoch, model.head.parameters())
            else:
                self._finetune(x, y, x_val, y_val, rng, on_epoch)
        model.eval()
        return self

    def _finetune(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None,
                  y_val: np.ndarray | None, rng: np.random.Generator,
                  on_epoch: OnEpoch | None) -> None:
        model, cfg = self._require_model(), self.config
        groups = [{"params": model.transformer.parameters(), "lr": cfg.lr},
                  {"params": model.head.parameters(), "lr": cfg.lr * 100}]
        lengths = quantities.token_lengths(x)

        def logits(idx: np.ndarray) -> torch.Tensor:
            width = max(1, int(lengths[idx].max()))
            return model(torch.from_numpy(x[idx, :width]).to(self.device))

        val = None if x_val is None or y_val is None else (x_val, y_val)
        self._loop(logits, len(x), y, val, rng, on_epoch, groups, announce=True)

    def _loop(self, logits_of: Callable[[np.ndarray], torch.Tensor], n: int, y: np.ndarray,
              val: Validation | None, rng: np.random.Generator, on_epoch: OnEpoch | None,
              params: ParamsT, announce: bool = False) -> None:
        """Adam epochs over shuffled batches; validation each epoch, best state kept."""
        cfg, model = self.config, self._require_model()
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        epochs = cfg.max_epochs if val is not None else cfg.fixed_epochs
        targets = torch.from_numpy(y).to(self.device)
        best_key, best_state, since_best, self.history = None, None, 0, []
        for epoch in range(epochs):
            started = time.perf_counter()
            if self.regime == "frozen":  # only the head's dropout trains; the encoder's stays off
                model.eval()
                model.dropout.train()
            else:
                model.train()
            total = 0.0
            batches = [b for b in np.array_split(rng.permutation(n),
                                                 max(1, math.ceil(n / cfg.batch_size)))]
            for b, idx in enumerate(batches):
                loss = F.cross_entropy(logits_of(idx), targets[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
                if announce and epoch == 0 and b == 0 and len(batches) > 1:
                    self._announce(time.perf_counter() - started, len(batches) * epochs, val)
            record = {"epoch": epoch + 1, "train_loss": total / n,
                      "train_seconds": time.perf_counter() - started}
            if val is not None:
                record.update(self._validate(*val))
                key = ((-record["val_accuracy"], record["val_loss"]) if cfg.monitor == "accuracy"
                       else (record["val_loss"],))
                if best_key is None or key < best_key:
                    best_key, since_best = key, 0
                    best_state = copy.deepcopy(model.head.state_dict() if self.regime == "frozen"
                                               else model.state_dict())
                else:
                    since_best += 1
            self.history.append(record)
            if on_epoch is not None:
                on_epoch(self, record)
            if since_best >= cfg.patience:
                break
        if best_state is not None:
            (model.head if self.regime == "frozen" else model).load_state_dict(best_state)

    def _announce(self, batch_seconds: float, n_batches: int, val: Validation | None
                  ) -> None:
        per_item = batch_seconds / self.config.batch_size / 3  # a forward is ~1/3 of a step
        val_seconds = 0.0 if val is None else per_item * len(val[0])
        expected = batch_seconds * n_batches + val_seconds * self.config.max_epochs
        if expected > ANNOUNCE_SECONDS:
            print(f"fine-tuning {self.model_name} on {self.device.type}: about "
                  f"{expected / 60:.1f} min for this fit (at most {n_batches} batches of "
                  f"{self.config.batch_size}; a GPU, or the frozen encoder without "
                  f"+finetune, is much faster)", file=sys.stderr, flush=True)

    def _validate(self, x_val: torch.Tensor | np.ndarray, y_val: np.ndarray
                  ) -> dict[str, float]:
        started = time.perf_counter()
        if isinstance(x_val, torch.Tensor):  # frozen: the pooled embeddings
            with torch.no_grad():
                model = self._require_model().eval()
                proba = torch.softmax(model.head(x_val), -1).cpu().numpy()
        else:
            proba = self.predict_proba(x_val)
        picked = proba[np.arange(len(y_val)), y_val]
        return {"val_loss": float(-np.log(np.maximum(picked, 1e-12)).mean()),
                "val_accuracy": float((proba.argmax(1) == y_val).mean()),
                "val_seconds": time.perf_counter() - started}

    # ------------------------------------------------------------ what strategies read

    def _head(self, pooled: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            model = self._require_model().eval()
            return model.head(torch.from_numpy(pooled).to(self.device))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, C)."""
        return torch.softmax(self._head(self.pooled(x)), -1).cpu().numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)

    def predict_proba_mc(self, x: np.ndarray, samples: int, seed: int) -> np.ndarray:
        """(samples, N, C) with dropout on the head's input only; same seed, same result."""
        if samples < 1:
            raise AldenError(f"samples (MC dropout passes) must be at least 1, got {samples}")
        model = self._require_model()
        pooled = torch.from_numpy(self.pooled(x)).to(self.device)
        devices = [self.device] if self.device.type == "cuda" else []
        out = np.zeros((samples, len(pooled), self.n_classes), dtype=np.float32)
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(seed)
            model.dropout.train()
            try:
                for t in range(samples):
                    out[t] = torch.softmax(model.head(model.dropout(pooled)), -1).cpu().numpy()
            finally:
                model.dropout.eval()
        return out

    def hidden(self, x: np.ndarray) -> np.ndarray:
        """The head's input (N, H): the pooled sentence embedding, for CORESET."""
        return self.pooled(x)

    def badge_embeddings(self, x: np.ndarray) -> np.ndarray:
        """BADGE's (p - onehot(yhat)) outer h, (N, C*H), class-major."""
        h = self.pooled(x)
        p = torch.softmax(self._head(h), -1).cpu().numpy()
        residual = p - np.eye(self.n_classes, dtype=p.dtype)[p.argmax(1)]
        return (residual[:, :, None] * h[:, None, :]).reshape(len(h), -1)

    def egl_word_scores(self, x: np.ndarray) -> np.ndarray:
        """EGL-Word over the encoder's input piece embeddings (N,)."""
        return quantities.egl_word_scores(self._require_model(), self._check_x(x, "x"),
                                          batch_size=self.config.eval_batch_size)

    def token_interpretations(self, x: np.ndarray, output: str = DEFAULT_OUTPUT
                              ) -> list[np.ndarray]:
        """Eq. (4) per item and piece, through the whole encoder: (len_i, C) arrays."""
        return quantities.token_interpretations(self._require_model(), self._check_x(x, "x"),
                                                output, batch_size=self.config.eval_batch_size)

    def word_embeddings(self) -> np.ndarray:
        """The encoder's input embedding table (V, d), for Eq. (7)."""
        return quantities.word_embeddings(self._require_model())

    # ------------------------------------------------------------ saving

    def _saved_fields(self) -> dict[str, Any]:
        """What a saved file holds beside every encoder learner's fields, for ``_unsaved``."""
        return {"regime": self.regime}

    def _saved_part(self, model: EncoderClassifier) -> nn.Module:
        """What a saved file holds of ``model``: the head when frozen, else all of it."""
        return model.head if self.regime == "frozen" else model

    @classmethod
    def _unsaved(cls, description: dict[str, Any],
                 device: str | torch.device | None) -> EncoderLearner:
        """The untrained learner a saved file describes."""
        return cls(description["model_name"], n_classes=description["n_classes"],
                   config=saved_config(description), regime=description["regime"],
                   dropout=description["dropout"], device=device)

    def _restored(self, model: EncoderClassifier) -> None:
        self.model = model.eval()  # its saved weights loaded

    def save(self, path: str | os.PathLike) -> None:
        """Weights (``_saved_part``) and a JSON description naming the encoder and its
        fingerprint, in one file written whole (``alden.models.saved``)."""
        model = self._require_model()
        description = {"family": self.family, "model_name": self.model_name,
                       "n_classes": self.n_classes, "dropout": self.dropout,
                       "encoder_key": self.encoder.key, **self._saved_fields(),
                       "config": asdict(self.config)}
        write_learner(path, description, {"state_dict": {
            k: v.detach().cpu() for k, v in self._saved_part(model).state_dict().items()}})

    @classmethod
    def from_saved(cls, payload: dict[str, Any], description: dict[str, Any],
                   path: str | os.PathLike,
                   device: str | torch.device | None = None) -> EncoderLearner:
        """The learner ``save`` wrote (``load_learner`` calls this); refused when saved with
        other encoder files than those found now."""
        learner = cls._unsaved(description, device)
        if learner.encoder.key != description.get("encoder_key"):
            raise AldenError(f"{path}: saved with other encoder files than "
                             f"{learner.encoder.folder} holds now (weights or tokenizer "
                             f"changed); train the model again")
        model = learner.new_model()
        load_weights(learner._saved_part(model), payload["state_dict"], path)
        learner._restored(model)
        return learner


def encoder_config(config: TrainConfig | None, regime: str) -> TrainConfig:
    """The encoder defaults of ``regime`` with every field where ``config`` differs from
    ``TrainConfig()`` (what a command line overrode) laid over them."""
    plain = asdict(TrainConfig())
    given = {} if config is None else {k: v for k, v in asdict(config).items() if v != plain[k]}
    return TrainConfig(**{**(FROZEN_DEFAULTS if regime == "frozen" else FINETUNE_DEFAULTS),
                          **given})


def encoder_learner_for(data: EncodedData, model: str, config: TrainConfig | None = None,
                        **options: Any) -> EncoderLearner:
    """An untrained EncoderLearner for ``data`` (items encoded as word pieces of this
    encoder, see ``alden.models.encoder.prepare_encoded``); frozen, it shares one table of
    pooled embeddings of all of ``data.x``."""
    check_encoded(data, model)
    regime = split_regime(model)[1]
    table = shared_table(model, data.x) if regime == "frozen" else None
    return EncoderLearner(model, n_classes=len(data.classes),
                          config=encoder_config(config, regime), regime=regime,
                          table=table, **options)


def check_encoded(data: EncodedData, model: str) -> None:
    """An error unless ``data``'s items are word pieces of ``model``'s encoder."""
    vocab = getattr(data, "vocab", None)
    if vocab is not None and not isinstance(vocab, PieceVocab):
        raise AldenError(f"model {model!r} reads items encoded as its word pieces; these "
                         "were encoded for the word models (prepare them with "
                         "alden.models.encoder.prepare_encoded)")
    settings = getattr(data, "settings", None)  # a labeling project's
    encoded_for = settings.get("encoder") if isinstance(settings, dict) else None
    if isinstance(settings, dict) and split_regime(encoded_for or "")[0] != split_regime(model)[0]:
        raise AldenError(f"this project's items are encoded for "
                         f"{settings.get('encoder') or 'the word models'}; model {model!r} "
                         f"needs a project made with: alden init ... --model {model}")
