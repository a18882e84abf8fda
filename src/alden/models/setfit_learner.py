"""SetFitLearner, the setfit family's: a sentence encoder fine-tuned contrastively on pairs of
labeled items (``alden.models.setfit_tune``), then a dropout + linear softmax head trained on
its pooled embeddings exactly as the frozen encoder's head is (``EncoderLearner``).

Everything after the fine-tune is the frozen encoder's code on the fine-tuned transformer:
pooled embeddings come from a table (one per fine-tuned weights, found by their fingerprint,
filled as items are asked for), so the pool is encoded once per fine-tune; predictions, MC
dropout, CORESET's and BADGE's embeddings read it; EGL-Word and ALDEN's interpretations
differentiate through the fine-tuned encoder with ``alden.models.quantities``. A saved
learner holds the whole classifier (encoder and head), weights only.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch import nn

from alden.models.contract import EncodedData, TrainConfig, check_labels
from alden.models.encoder import EncoderClassifier
from alden.models.encoder_cache import PooledTable, encode_pooled
from alden.models.encoder_learner import EncoderLearner, OnEpoch, check_encoded, encoder_config
from alden.models.saved import saved_config
from alden.models.setfit_tune import TuneConfig, finetune
from alden.streams import pairs_rng

# Seconds a fine-tuning step (16 pairs) takes on 2 idle CPU cores, per million encoder
# parameters: the estimate a fit announces before it starts. From issue 21's measurement of
# the setfit library on MiniLM (22.7M; 320 such steps in 2-3 min, about 0.45 s a step); on a
# loaded machine a step takes many times longer (docs/results.md, "SetFit").
CPU_SECONDS_PER_STEP_PER_MPARAM = 0.02
DEFAULT_TUNE = TuneConfig()  # what a learner built without ``tune`` fine-tunes with
_TABLES: dict[str, PooledTable] = {}  # fine-tuned weights' fingerprint -> pooled embeddings
# the last fine-tunes of this process: (their labeled items' row keys, encoder key, weights)
_BODIES: list[tuple[frozenset[bytes], str, dict[str, torch.Tensor]]] = []


class SetFitLearner(EncoderLearner):
    """``minilm+setfit`` or ``encoder:NAME_OR_PATH+setfit``: SetFit's fine-tune, then the
    frozen encoder's head on it; ``tune`` says how the encoder is fine-tuned."""

    family = "setfit"

    def __init__(self, model_name: str, *, n_classes: int, config: TrainConfig | None = None,
                 tune: TuneConfig | None = None, dropout: float = 0.1,
                 device: str | torch.device | None = None, **ignored: object) -> None:
        super().__init__(model_name, n_classes=n_classes, config=config, regime="frozen",
                         dropout=dropout, device=device, cache=False)
        self.tune = tune if tune is not None else DEFAULT_TUNE
        self.body: dict[str, torch.Tensor] | None = None  # the fine-tuned transformer's state
        self.tune_seconds = 0.0

    def new_model(self) -> EncoderClassifier:
        """The classifier on this learner's own transformer (fine-tuned, once ``fit``); only
        its head trains here."""
        model = EncoderClassifier(self.encoder, self.n_classes, self.dropout).to(self.device)
        if self.body is not None:
            model.transformer.load_state_dict(self.body)
        model.set_encoder_trainable(False)
        return model.eval()

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None, *, seed: int,
            on_epoch: OnEpoch | None = None) -> SetFitLearner:
        """Fine-tune the encoder on pairs of ``x, y`` (``self.tune.steps`` steps), then train
        the head on its embeddings (validation on ``x_val, y_val`` as the frozen head's)."""
        x = self._check_x(x, "x")
        y = check_labels(y, len(x), self.n_classes, "y")
        items = {np.trim_zeros(row, "b").tobytes() for row in x}  # an item: its pieces
        self.body = reusable_body(items, self.encoder.key, self.tune.refit_growth)
        if self.body is None:
            model = self.new_model()
            self._announce_tune(model, on_epoch)
            devices = [self.device] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):  # the trainer seeds torch itself
                finetune(model, self.encoder, x, y, self.tune, seed=seed, rng=pairs_rng(seed),
                         on_step=self._on_step(on_epoch))
            self.body = {k: v.detach().clone()
                         for k, v in model.transformer.state_dict().items()}
            if self.tune.refit_growth > 1:
                _BODIES.append((frozenset(items), self.encoder.key, self.body))
                del _BODIES[:-2]  # each is a whole encoder's weights
        self.table = table_for(self.body)
        super().fit(x, y, x_val, y_val, seed=seed, on_epoch=on_epoch)
        return self

    def _announce_tune(self, model: EncoderClassifier, on_epoch: OnEpoch | None) -> None:
        """Say how long the fine-tune should take (from the step budget) before it starts:
        a record with step 0 to ``on_epoch``, else a line on stderr when it is long."""
        if self.tune.steps == 0:
            return
        millions = sum(p.numel() for p in model.transformer.parameters()) / 1e6
        expected = self.tune.steps * CPU_SECONDS_PER_STEP_PER_MPARAM * millions
        if on_epoch is not None:
            on_epoch(self, {"step": 0, "steps": self.tune.steps, "expected_seconds": expected})
        elif expected > 30 and self.device.type == "cpu":
            print(f"fine-tuning {self.model_name}: {self.tune.steps} steps of "
                  f"{self.tune.batch_size} pairs, about {expected / 60:.1f} min on 2 CPU cores",
                  file=sys.stderr, flush=True)

    def _on_step(self, on_epoch: OnEpoch | None) -> Any:
        if on_epoch is None:
            return None

        def step(done: int, steps: int, seconds: float) -> None:
            self.tune_seconds = seconds
            on_epoch(self, {"step": done, "steps": steps, "tune_seconds": seconds})

        return step

    # ------------------------------------------------------------ saving

    def _pooled_new(self, x: np.ndarray) -> np.ndarray:
        """Pooled embeddings of items the table lacks, through the fine-tuned encoder (the
        disk cache holds the frozen encoder's only)."""
        return encode_pooled(self.encoder, x, model=self._require_model(),
                             batch_size=self.config.eval_batch_size)

    # Saved as the encoder learner saves (``EncoderLearner.save``/``from_saved``), with the
    # whole classifier (the fine-tuned encoder and the head) and the fine-tune's settings.
    def _saved_fields(self) -> dict[str, Any]:
        return {"tune": asdict(self.tune)}

    def _saved_part(self, model: EncoderClassifier) -> nn.Module:
        return model

    @classmethod
    def _unsaved(cls, description: dict[str, Any],
                 device: str | torch.device | None) -> SetFitLearner:
        return cls(description["model_name"], n_classes=description["n_classes"],
                   config=saved_config(description), tune=TuneConfig(**description["tune"]),
                   dropout=description["dropout"], device=device)

    def _restored(self, model: EncoderClassifier) -> None:
        self.body = {k: v.detach().clone() for k, v in model.transformer.state_dict().items()}
        self.table = table_for(self.body)
        self.model = model.eval()


def reusable_body(items: set[bytes], encoder_key: str, growth: float
                  ) -> dict[str, torch.Tensor] | None:
    """A fine-tune of this process to build on instead of fine-tuning again: one on a subset
    of ``items`` (row keys) of the same encoder that they outnumber by less than ``growth``
    times (never, at the default 1.0: every fit fine-tunes)."""
    for done, key, body in reversed(_BODIES):
        if key == encoder_key and done <= items and len(items) < growth * len(done):
            return body
    return None


def weights_fingerprint(state: dict[str, torch.Tensor]) -> str:
    """sha256 over a state dict's names, shapes and bytes."""
    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}|".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def table_for(state: dict[str, torch.Tensor]) -> PooledTable:
    """The (growing) table of pooled embeddings under these transformer weights, one per
    process: a learner loaded back, or fitted to the same weights, reads what is encoded."""
    key = weights_fingerprint(state)
    if key not in _TABLES:
        if len(_TABLES) >= 2:  # a fine-tune's table is as large as the pool
            _TABLES.pop(next(iter(_TABLES)))
        _TABLES[key] = PooledTable(np.zeros((0, 1), np.int64),
                                   np.zeros((0, _width(state)), np.float32))
    return _TABLES[key]


def _width(state: dict[str, torch.Tensor]) -> int:
    return int(next(v for k, v in state.items() if k.endswith("word_embeddings.weight")).shape[1])


def setfit_learner_for(data: EncodedData, model: str, config: TrainConfig | None = None,
                       **options: Any) -> SetFitLearner:
    """An untrained SetFitLearner for ``data`` (items as this encoder's word pieces); the
    head trains with the frozen encoder's defaults where ``config`` does not say."""
    check_encoded(data, model)
    return SetFitLearner(model, n_classes=len(data.classes),
                         config=encoder_config(config, "frozen"), **options)
