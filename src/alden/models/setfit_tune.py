"""SetFit's contrastive fine-tuning of a sentence encoder, on a fixed budget of steps.

Pairs of labeled items (same class: target 1, different: 0) are drawn by ``sample_pairs``
from ``alden.streams.pairs_rng``; sentence-transformers trains the encoder on them with the
pair loss ``TuneConfig.loss`` names (CoSENT by default, or SetFit's CosineSimilarityLoss) and
its ``SentenceTransformerTrainer`` (no training loop of alden's own),
``steps`` batches of ``batch_size`` pairs whatever the number of labels, so a fine-tune costs
the same at 100 labels as at 2,000. The trained weights, averaged with the pretrained ones
(``TuneConfig.mix``, WiSE-FT: 0.75 of the fine-tuned by default), are copied into the
classifier's transformer, which is the one every prediction and gradient reads.

Items reach the trainer as texts decoded from their word pieces (the trainer tokenizes
texts); for a BERT-style WordPiece tokenizer decoding and tokenizing again gives the same
pieces (tests/test_setfit.py checks it on the tiny encoder).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from alden.errors import AldenError
from alden.models.encoder import Encoder, EncoderClassifier
from alden.models.setfit_options import PAIR_LOSSES, TuneConfig

# (step, steps, seconds so far): called after each training step
OnStep = Callable[[int, int, float], None]


def sample_pairs(y: np.ndarray, n_pairs: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_pairs`` pairs of positions in ``y`` as (first, second, same class), alternating a
    same-class pair and a different-class pair, the first item drawn uniformly; where a class
    has one item (no partner) or there is one class (no other), the other kind is drawn."""
    y = np.asarray(y)
    order = np.argsort(y, kind="stable")
    _, starts, counts = np.unique(y[order], return_index=True, return_counts=True)
    rank = np.empty(len(y), dtype=np.int64)
    rank[order] = np.arange(len(y))
    first = rng.integers(0, len(y), size=n_pairs)
    block = np.searchsorted(starts, rank[first], side="right") - 1  # the first item's class
    start, count = starts[block], counts[block]
    same = np.arange(n_pairs) % 2 == 0
    same = np.where(count < 2, False, np.where(count == len(y), True, same))
    # same: another item of the class (its rank skipped); different: an item outside it
    high = np.where(same, count - 1, len(y) - count)
    draw = rng.integers(0, np.maximum(high, 1))
    inside = start + draw + (draw >= rank[first] - start)
    outside = draw + np.where(draw >= start, count, 0)
    second = order[np.where(same, inside, outside)]
    return first, second, same


def decoded_texts(encoder: Encoder, x: np.ndarray) -> list[str]:
    """The texts of piece-id rows (pads dropped) as the encoder's tokenizer decodes them."""
    rows = [[int(i) for i in row if i != 0] for row in np.asarray(x)]
    return list(encoder.tokenizer.decode_batch(rows))


def finetune(model: EncoderClassifier, encoder: Encoder, x: np.ndarray, y: np.ndarray,
             config: TuneConfig, *, seed: int, rng: np.random.Generator,
             on_step: OnStep | None = None) -> None:
    """Fine-tune ``model.transformer`` on ``config.steps`` batches of pairs of the labeled
    items ``x, y`` drawn from ``rng``; ``seed`` seeds the trainer's order and dropout."""
    if config.steps == 0 or len(x) < 2:
        return
    trainer_parts = _trainer_parts()
    first, second, same = sample_pairs(y, config.steps * config.batch_size, rng)
    texts = decoded_texts(encoder, x)
    pairs = trainer_parts["Dataset"].from_dict({
        "sentence_0": [texts[i] for i in first], "sentence_1": [texts[i] for i in second],
        "label": same.astype(np.float32).tolist()})
    device = next(model.parameters()).device
    body = _sentence_model(encoder, device, trainer_parts)
    # the trainer trains ``body``, a copy: ``model.transformer`` keeps the pretrained weights
    # until the mixed ones are loaded into it at the end, so no second copy is needed
    pretrained = model.transformer.state_dict()
    body[0].auto_model.load_state_dict(pretrained)
    body.model_card_data.widget = [{}]  # no model card examples: nothing is published
    with tempfile.TemporaryDirectory(prefix="alden-setfit-") as out, _global_rngs_kept():
        args = trainer_parts["Args"](
            output_dir=out, max_steps=config.steps, per_device_train_batch_size=config.batch_size,
            learning_rate=config.lr, warmup_steps=round(config.warmup * config.steps),
            seed=int(seed) % 2**31,
            save_strategy="no", report_to="none", disable_tqdm=True, logging_strategy="no",
            use_cpu=device.type == "cpu", dataloader_num_workers=0)
        trainer = trainer_parts["Trainer"](
            model=body, args=args, train_dataset=pairs,
            loss=getattr(trainer_parts["losses"], PAIR_LOSSES[config.loss])(body),
            callbacks=[] if on_step is None else [_step_callback(trainer_parts, on_step)])
        trainer.remove_callback(trainer_parts["Printer"])
        trainer.train()
    model.transformer.load_state_dict(
        mixed(body[0].auto_model.state_dict(), pretrained, config.mix))


def mixed(tuned: dict[str, torch.Tensor], pretrained: dict[str, torch.Tensor], share: float
          ) -> dict[str, torch.Tensor]:
    """WiSE-FT's weight interpolation: each floating-point tensor ``share`` of the fine-tuned
    one plus ``1 - share`` of the pretrained one (other tensors, e.g. position ids, as tuned);
    ``share`` 1 returns ``tuned`` itself."""
    if share == 1:
        return tuned
    return {k: torch.lerp(pretrained[k].to(v.device), v, share) if v.is_floating_point() else v
            for k, v in tuned.items()}


def _trainer_parts() -> dict[str, Any]:
    """sentence-transformers' trainer, its arguments and loss, and ``datasets.Dataset``; an
    error saying what to install when they are missing."""
    try:
        from datasets import Dataset
        from sentence_transformers import (
            SentenceTransformer,
            SentenceTransformerTrainer,
            SentenceTransformerTrainingArguments,
        )
        from transformers import PrinterCallback, TrainerCallback

        # a module of sentence-transformers 3-5, an alias since (found at run time)
        losses = importlib.import_module("sentence_transformers.losses")
    except ImportError as err:
        raise AldenError(f"the +setfit models need sentence-transformers' trainer, which "
                         f"needs {err.name}: pip install 'alden[encoders]'") from None
    return {"Dataset": Dataset, "Model": SentenceTransformer, "Args":
            SentenceTransformerTrainingArguments, "Trainer": SentenceTransformerTrainer,
            "losses": losses, "Printer": PrinterCallback, "Callback": TrainerCallback}


def _sentence_model(encoder: Encoder, device: torch.device, parts: dict[str, Any]) -> Any:
    """The encoder's folder as a sentence-transformers model (its pooling, normalisation),
    offline; its transformer's weights are replaced by the caller's."""
    from transformers.utils import logging as hf_logging

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with torch.random.fork_rng(devices=[]):
            return parts["Model"](str(encoder.folder), device=str(device),
                                  local_files_only=True)
    except Exception as err:  # sentence-transformers raises many kinds for a bad folder
        raise AldenError(f"{encoder.folder}: sentence-transformers could not load it "
                         f"({err})") from None
    finally:
        hf_logging.set_verbosity(verbosity)


def _step_callback(parts: dict[str, Any], on_step: OnStep) -> Any:
    """A trainer callback that calls ``on_step(step, steps, seconds)`` after each step."""
    started = time.perf_counter()
    base: Any = parts["Callback"]

    class StepCallback(base):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            on_step(int(state.global_step), int(state.max_steps),
                    time.perf_counter() - started)

    return StepCallback()


@contextlib.contextmanager
def _global_rngs_kept() -> Iterator[None]:
    """The trainer seeds Python's and NumPy's global generators; alden never uses them, but
    its caller may: their states are put back afterwards."""
    python_state = random.getstate()
    numpy_state = np.random.get_state()  # noqa: NPY002 (saved, never drawn from)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
