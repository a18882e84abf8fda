"""SetFitLearner, the setfit family's: a sentence encoder fine-tuned contrastively on pairs of
labeled items (``alden.models.setfit_tune``), then a dropout + linear softmax head trained on
its pooled embeddings exactly as the frozen encoder's head is (``EncoderLearner``).

Everything after the fine-tune is the frozen encoder's code on the fine-tuned transformer:
pooled embeddings come from a table (one per fine-tuned weights, found by their fingerprint,
filled as items are asked for), so the pool is encoded once per fine-tune; predictions, MC
dropout, CORESET's and BADGE's embeddings read it; EGL-Word and ALDEN's interpretations
differentiate through the fine-tuned encoder with ``alden.models.quantities``. A saved
learner holds the whole classifier (encoder and head), weights only.

Self-training (``TuneConfig.self_train`` > 0, e.g. ``minilm+setfit:self_train=0.1``; off by
default, it did not help on MR's seed set, docs/results.md): ``fit`` also reads the pool's
unlabeled items (``unlabeled=``; ``alden.models.contract.fit_learner`` passes them to a
learner whose ``reads_unlabeled`` is true), trains the head over the first fine-tune,
pseudo-labels its most confident predictions (``alden.models.self_train``: an even number per
predicted class, at most ``self_train`` of the unlabeled items and ``pseudo_per_label`` times
the labels), fine-tunes the pretrained encoder again on labels and pseudo-labels (the same
step budget, pairs from ``alden.streams.pseudo_pairs_rng``) and trains the head on the labels.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch import nn

from alden.errors import AldenError
from alden.models.contract import EncodedData, TrainConfig, check_labels
from alden.models.encoder import EncoderClassifier
from alden.models.encoder_cache import PooledTable, encode_pooled
from alden.models.encoder_learner import EncoderLearner, OnEpoch, check_encoded, encoder_config
from alden.models.saved import saved_config
from alden.models.self_train import pseudo_label_count, pseudo_labels, stacked
from alden.models.setfit_options import TuneConfig, tune_config
from alden.models.setfit_tune import finetune
from alden.streams import pairs_rng, pseudo_pairs_rng

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
    """``minilm+setfit`` or ``encoder:NAME_OR_PATH+setfit`` (optionally with ``TuneConfig``
    options after a colon, ``alden.models.setfit_options``): SetFit's fine-tune, then the
    frozen encoder's head on it; ``tune`` says how the encoder is fine-tuned."""

    family = "setfit"

    def __init__(self, model_name: str, *, n_classes: int, config: TrainConfig | None = None,
                 tune: TuneConfig | None = None, dropout: float = 0.1,
                 device: str | torch.device | None = None, **ignored: object) -> None:
        super().__init__(model_name, n_classes=n_classes, config=config, regime="frozen",
                         dropout=dropout, device=device, cache=False)
        # given, else the name's options (minilm+setfit:self_train=0.1) over DEFAULT_TUNE
        self.tune = tune if tune is not None else tune_config(model_name, DEFAULT_TUNE)
        self.body: dict[str, torch.Tensor] | None = None  # the fine-tuned transformer's state
        self.tune_seconds = 0.0
        # self-training's last pseudo-labels: (positions in fit's ``unlabeled``, classes)
        self.pseudo: tuple[np.ndarray, np.ndarray] | None = None

    def new_model(self) -> EncoderClassifier:
        """The classifier on this learner's own transformer (fine-tuned, once ``fit``); only
        its head trains here."""
        model = EncoderClassifier(self.encoder, self.n_classes, self.dropout).to(self.device)
        if self.body is not None:
            model.transformer.load_state_dict(self.body)
        model.set_encoder_trainable(False)
        return model.eval()

    @property
    def reads_unlabeled(self) -> bool:
        """Whether ``fit`` wants the pool's unlabeled items (``unlabeled``): when it
        self-trains (``alden.models.contract.fit_learner`` passes them then)."""
        return self.tune.self_train > 0

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None, *, seed: int, on_epoch: OnEpoch | None = None,
            unlabeled: np.ndarray | None = None) -> SetFitLearner:
        """Fine-tune the encoder on pairs of ``x, y`` (``self.tune.steps`` steps), then train
        the head on its embeddings (validation on ``x_val, y_val`` as the frozen head's).
        Self-training (``tune.self_train`` > 0) reads ``unlabeled``, the pool's unlabeled
        items, and fine-tunes a second time with some of them pseudo-labeled."""
        x = self._check_x(x, "x")
        y = check_labels(y, len(x), self.n_classes, "y")
        unlabeled = self._unlabeled(unlabeled)
        items = {np.trim_zeros(row, "b").tobytes() for row in x}  # an item: its pieces
        key = f"{self.encoder.key}|{self.tune}"  # fine-tunes by other settings are not reused
        self.body, self.pseudo = reusable_body(items, key, self.tune.refit_growth), None
        if self.body is None:
            self.body = self._tuned_body(x, y, x_val, y_val, seed, on_epoch, unlabeled)
            if self.tune.refit_growth > 1:
                _BODIES.append((frozenset(items), key, self.body))
                del _BODIES[:-2]  # each is a whole encoder's weights
        self.table = table_for(self.body)
        super().fit(x, y, x_val, y_val, seed=seed, on_epoch=on_epoch)
        return self

    def _unlabeled(self, unlabeled: np.ndarray | None) -> np.ndarray | None:
        """The unlabeled items self-training reads (None when it is off or there are none);
        an error when it is on and they were not given."""
        if self.tune.self_train == 0:
            return None
        if unlabeled is None:
            raise AldenError(f"{self.model_name}: self-training (self_train="
                             f"{self.tune.self_train}) needs the pool's unlabeled items: "
                             f"fit(..., unlabeled=...), as alden.models.contract.fit_learner "
                             f"passes them")
        unlabeled = np.asarray(unlabeled)
        return self._check_x(unlabeled, "unlabeled") if len(unlabeled) else None

    def _tuned_body(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None,
                    y_val: np.ndarray | None, seed: int, on_epoch: OnEpoch | None,
                    unlabeled: np.ndarray | None) -> dict[str, torch.Tensor]:
        """The transformer's weights fine-tuned on the labels; self-training, fine-tuned
        again from the pretrained encoder on the labels and the pseudo-labels that the
        first fine-tune's model gives ``unlabeled`` (the head then trains on the labels)."""
        count = 0 if unlabeled is None or self.tune.steps == 0 else pseudo_label_count(
            len(unlabeled), len(x), self.tune.self_train, self.tune.pseudo_per_label)
        tunes = 2 if count >= self.n_classes else 1  # at least one pseudo-label a class
        self.body = None
        model = self.new_model()  # the pretrained encoder
        self._announce_tune(model, on_epoch, tunes, count,
                            0 if unlabeled is None else len(unlabeled))
        body = self._finetuned(model, x, y, seed, pairs_rng(seed), on_epoch, 0, tunes)
        if tunes == 1 or unlabeled is None:
            return body
        chosen, labels = self._pseudo_labels(body, x, y, x_val, y_val, unlabeled, count, seed)
        self.pseudo, self.body = (chosen, labels), None
        return self._finetuned(self.new_model(), stacked(x, unlabeled[chosen]),
                               np.concatenate([y, labels]), seed, pseudo_pairs_rng(seed),
                               on_epoch, 1, tunes)

    def _finetuned(self, model: EncoderClassifier, x: np.ndarray, y: np.ndarray, seed: int,
                   rng: np.random.Generator, on_epoch: OnEpoch | None, done: int, tunes: int
                   ) -> dict[str, torch.Tensor]:
        """``model``'s transformer's weights fine-tuned on pairs of ``x, y`` from ``rng``,
        the ``done + 1``-th of ``tunes`` fine-tunes of this fit (its steps told after the
        earlier ones')."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # the trainer seeds torch itself
            finetune(model, self.encoder, x, y, self.tune, seed=seed, rng=rng,
                     on_step=self._on_step(on_epoch, done * self.tune.steps,
                                           tunes * self.tune.steps))
        return {k: v.detach().clone() for k, v in model.transformer.state_dict().items()}

    def _pseudo_labels(self, body: dict[str, torch.Tensor], x: np.ndarray, y: np.ndarray,
                       x_val: np.ndarray | None, y_val: np.ndarray | None,
                       unlabeled: np.ndarray, count: int, seed: int
                       ) -> tuple[np.ndarray, np.ndarray]:
        """(positions in ``unlabeled``, classes) of the pseudo-labels: the most confident
        predictions of the head trained on the labels over ``body`` (its pooled embeddings
        in a table of their own, dropped afterwards), at most ``count``, balanced by class."""
        self.body, self.table = body, _empty_table(body)
        super().fit(x, y, x_val, y_val, seed=seed)
        proba = self.predict_proba(unlabeled)
        self.table = self.model = None
        return pseudo_labels(proba, count)

    def _announce_tune(self, model: EncoderClassifier, on_epoch: OnEpoch | None,
                       tunes: int = 1, count: int = 0, n_unlabeled: int = 0) -> None:
        """Say how long the fine-tunes should take (from the step budget, and the pass over
        the unlabeled items between two) before they start: a record with step 0 to
        ``on_epoch``, else a line on stderr when it is long."""
        steps = tunes * self.tune.steps
        if steps == 0:
            return
        millions = sum(p.numel() for p in model.transformer.parameters()) / 1e6
        # a step's work grows with its pairs (the constant is for SetFit's 16); an item's
        # forward pass is about a third of one pair item's share of a step
        batches = self.tune.batch_size / 16
        passes = 0.0 if tunes == 1 else n_unlabeled / (6 * 16)
        expected = (steps * batches + passes) * CPU_SECONDS_PER_STEP_PER_MPARAM * millions
        if on_epoch is not None:
            on_epoch(self, {"step": 0, "steps": steps, "expected_seconds": expected})
        elif expected > 30 and self.device.type == "cpu":
            plan = "" if tunes == 1 else (
                f" (self-training: two fine-tunes, {count:,} of {n_unlabeled:,} unlabeled "
                f"items pseudo-labeled between them)")
            print(f"fine-tuning {self.model_name}: {steps} steps of {self.tune.batch_size} "
                  f"pairs{plan}, about {expected / 60:.1f} min on 2 CPU cores",
                  file=sys.stderr, flush=True)

    def _on_step(self, on_epoch: OnEpoch | None, before: int = 0, steps: int = 0) -> Any:
        """``finetune``'s ``on_step`` as ``on_epoch`` records, counted after ``before``
        steps of the fit's ``steps`` (a second fine-tune goes on from the first's)."""
        if on_epoch is None:
            return None
        earlier = self.tune_seconds if before else 0.0

        def step(done: int, of: int, seconds: float) -> None:
            self.tune_seconds = earlier + seconds
            on_epoch(self, {"step": before + done, "steps": steps or of,
                            "tune_seconds": self.tune_seconds})

        return step

    # ------------------------------------------------------------ saving

    def _pooled_new(self, x: np.ndarray) -> np.ndarray:
        """Pooled embeddings of items the table lacks, through the fine-tuned encoder (the
        disk cache holds the frozen encoder's only)."""
        return encode_pooled(self.encoder, x, model=self._require_model(),
                             batch_size=self.config.eval_batch_size, on_progress=self.on_encode)

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
        _TABLES[key] = _empty_table(state)
    return _TABLES[key]


def _empty_table(state: dict[str, torch.Tensor]) -> PooledTable:
    return PooledTable(np.zeros((0, 1), np.int64), np.zeros((0, _width(state)), np.float32))


def _width(state: dict[str, torch.Tensor]) -> int:
    return int(next(v for k, v in state.items() if k.endswith("word_embeddings.weight")).shape[1])


def setfit_learner_for(data: EncodedData, model: str, config: TrainConfig | None = None,
                       **options: Any) -> SetFitLearner:
    """An untrained SetFitLearner for ``data`` (items as this encoder's word pieces); the
    head trains with the frozen encoder's defaults where ``config`` does not say."""
    check_encoded(data, model)
    return SetFitLearner(model, n_classes=len(data.classes),
                         config=encoder_config(config, "frozen"), **options)
