"""How a ``+setfit`` model fine-tunes (``TuneConfig``), and the options a model name may set
after a colon: ``minilm+setfit:self_train=0.1`` or ``encoder:PATH+setfit:steps=400,lr=3e-5``.

The name is how the option reaches every side alike: ``alden benchmark --model`` (a run's
model, so its results stand apart from the plain model's), ``alden init --model`` (the
project's model, part of its trained files' names and keys) and the library. No torch here:
``alden.models.families`` checks a name's options before anything is built.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from alden.errors import AldenError
from alden.models.encoder_weights import split_options

# TuneConfig.loss -> the sentence-transformers loss class it names (setfit_tune builds it)
PAIR_LOSSES = {"cosine": "CosineSimilarityLoss", "cosent": "CoSENTLoss"}


@dataclass(frozen=True)
class TuneConfig:
    """How the encoder is fine-tuned; defaults measured on Subj and MR (docs/results.md)."""

    steps: int = 200  # batches of pairs per fine-tune, whatever the number of labels
    batch_size: int = 16  # pairs per batch (SetFit's default)
    # the body's learning rate: SetFit's is 2e-5 (with its cosine loss); 5e-5 with CoSENT led
    # on MR's validation splits, seeds 0-2 (docs/results.md, "SetFit": the recipe)
    lr: float = 5e-5
    warmup: float = 0.1  # share of the steps the rate warms up over (SetFit's)
    # the pair loss (sentence-transformers' losses): "cosine" (CosineSimilarityLoss, SetFit's:
    # the cosine regressed on 1/0), "cosent" (CoSENTLoss: a ranking loss over the batch's
    # pairs, every same-class pair above every different-class one)
    loss: str = "cosent"
    # WiSE-FT (Wortsman et al., CVPR 2022): the encoder's weights after the fine-tune are
    # this share of the fine-tuned ones plus the rest of the pretrained ones (1.0: as
    # trained); 0.75 led 1.0 and 0.5 on the validation splits of MR and Subj, seeds 0-2
    # (docs/results.md, "SetFit": the recipe)
    mix: float = 0.75
    # Fine-tune again only once the labels outnumber those of the fine-tune this process
    # last made on a subset of them by this factor (the head alone trains in between);
    # 1.0: every fit fine-tunes. A project's query is one process: it always fine-tunes.
    refit_growth: float = 1.0
    # Self-training (HAST-like): after the fine-tune on the labels, pseudo-label this share
    # of the unlabeled pool (the most confident items, an even number per predicted class)
    # and fine-tune again, from the pretrained encoder, on labels and pseudo-labels. 0: off
    # (the default; on MR's seed set it did not help, docs/results.md).
    self_train: float = 0.0
    pseudo_per_label: float = 5.0  # self-training: at most this many pseudo-labels per label

    def __post_init__(self) -> None:
        if (self.steps < 0 or self.batch_size < 1 or not self.lr > 0
                or not 0 <= self.warmup < 1 or not 0 <= self.mix <= 1
                or not self.refit_growth >= 1
                or not 0 <= self.self_train <= 1 or not self.pseudo_per_label > 0
                or self.loss not in PAIR_LOSSES):
            raise AldenError(f"setfit options: steps >= 0, batch_size >= 1, lr > 0, "
                             f"0 <= warmup < 1, 0 <= mix <= 1, refit_growth >= 1, "
                             f"0 <= self_train <= 1, pseudo_per_label > 0 and loss one of "
                             f"{', '.join(PAIR_LOSSES)}, got {self}")


def tune_config(model: str, base: TuneConfig | None = None) -> TuneConfig:
    """``base`` (default ``TuneConfig()``) with the options of the model name ``model``
    (``KEY=VALUE`` pairs after ``+setfit:``, comma-separated); an error naming the options
    there are for an unknown key, a repeated one or a value of the wrong type."""
    base = base if base is not None else TuneConfig()
    name, text = split_options(model)
    if name == model:  # no options
        return base
    known = {f.name: type(getattr(base, f.name)) for f in dataclasses.fields(TuneConfig)}
    given: dict[str, Any] = {}
    for part in text.split(","):
        key, eq, value = (s.strip() for s in part.partition("="))
        if not eq or key not in known or key in given:
            problem = "repeated" if key in given else "not KEY=VALUE with a known KEY"
            raise AldenError(f"model {model!r}: option {part!r} is {problem}; a +setfit "
                             f"model's options are {', '.join(known)} (e.g. "
                             f"minilm+setfit:self_train=0.1)")
        try:
            given[key] = known[key](value)
        except ValueError:
            kind = "an integer" if known[key] is int else "a number"
            raise AldenError(f"model {model!r}: option {key} must be {kind}, "
                             f"got {value!r}") from None
    try:
        return dataclasses.replace(base, **given)
    except AldenError as err:
        raise AldenError(f"model {model!r}: {err}") from None


def canonical_name(model: str) -> str:
    """The name of ``model``'s recipe as results store it: its options in ``TuneConfig``'s
    order, those equal to the default left out (``minilm+setfit:lr=5e-5`` and
    ``minilm+setfit`` are one recipe, so one name); a name without options is itself."""
    name, _ = split_options(model)
    config, default = tune_config(model), TuneConfig()
    changed = [f"{f.name}={_written(getattr(config, f.name))}"
               for f in dataclasses.fields(TuneConfig)
               if getattr(config, f.name) != getattr(default, f.name)]
    return f"{name}:{','.join(changed)}" if changed else name


def _written(value: object) -> str:
    """An option's value as a name spells it: 2e-5, not 2e-05."""
    if isinstance(value, float):
        return re.sub(r"e([+-])0*(\d)", r"e\1\2", repr(value)).replace("e+", "e")
    return str(value)
