"""Model families, one registry: for each family, the model names it answers to, the data it
reads and how that data is prepared, how its learner is built and loaded back, and the
strategy a project starts with. Everything else asks here instead of testing names, so a new
family is one more entry in ``FAMILIES`` (and its learner module).

- ``network``: "cnn", "bilstm" (text as word ids, word2vec vectors fitted on the pool) and
  "mlp" (tables, imputed and scaled features); ``alden.models.learner.NetworkLearner``.
- ``encoder``: "minilm" and "encoder:NAME_OR_PATH", optionally "+finetune": a pretrained
  sentence encoder reading its tokenizer's word pieces;
  ``alden.models.encoder_learner.EncoderLearner``.
- ``setfit``: the same names with "+setfit": the encoder fine-tuned contrastively on pairs
  of labeled items (SetFit), then the frozen encoder's head on it;
  ``alden.models.setfit_learner.SetFitLearner``. Its names may carry options after a colon
  (``minilm+setfit:self_train=0.1``; ``alden.models.setfit_options``), checked here.

A saved learner names its family (files without one are the network family's, written
before the field existed); ``load_learner`` picks the class by it. No torch at import.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from alden.errors import AldenError
from alden.models.encoder_weights import is_encoder, split_regime

if TYPE_CHECKING:
    import torch

    from alden.data.datasets import Dataset
    from alden.data.prepare import Prepared
    from alden.models.contract import EncodedData, Learner, TrainConfig


class SavedLoader(Protocol):
    """A learner class as ``load_learner`` uses it: its ``from_saved`` reads its files back."""

    def from_saved(self, payload: dict[str, Any], description: dict[str, Any],
                   path: str | os.PathLike, device: str | torch.device | None = None
                   ) -> Learner: ...


@dataclass(frozen=True)
class Family:
    """One family of models; see the module docstring for the two there are."""

    name: str  # the ``family`` field of its saved files
    listed: dict[str, tuple[str, ...]]  # data kind it reads -> its model names as listed
    prepare: Callable[..., Prepared]  # (dataset, seed, model, *, fractions, unlabeled, ...)
    build: Callable[..., Learner]  # (data, model, config, **options): an untrained learner
    learner_class: Callable[[], SavedLoader]  # the class whose ``from_saved`` loads its files
    data_key: Callable[[str], str]  # models with one key (and family) read the same data
    word_pieces: bool = False  # items are a pretrained tokenizer's word pieces
    strategy: str | None = None  # a project's default strategy, if not the data kind's
    # Open-ended names ("encoder:NAME_OR_PATH") match this; None: exactly the listed names.
    open_names: Callable[[str], bool] | None = None
    # Checks the options a name of the family carries (an error for bad ones); None: none.
    check_options: Callable[[str], object] | None = None

    def matches(self, model: str) -> bool:
        """Whether ``model`` names a model of this family."""
        if self.open_names is None:
            return any(model in names for names in self.listed.values())
        return self.open_names(model)

    def fits(self, kind: str, model: str) -> bool:
        """Whether ``model`` is this family's and reads ``kind`` data."""
        if self.open_names is None:
            return model in self.listed.get(kind, ())
        return kind in self.listed and self.open_names(model)


# ---------------------------------------------------------------- the network family

def _prepare_fitted(dataset: Dataset, seed: int, model: str, *,
                    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
                    unlabeled: bool = False, **encoding: Any) -> Prepared:
    """Word ids with word2vec (text) or scaled features (tables), fitted on the pool;
    ``encoding``: ``prepare``'s embedding_dim, max_len, ..."""
    from alden.data.prepare import prepare, prepare_unlabeled

    if unlabeled:
        return prepare_unlabeled(dataset, seed, **encoding)
    return prepare(dataset, seed, fractions=fractions, **encoding)


def _network_learner(data: EncodedData, model: str, config: TrainConfig | None = None,
                     **model_options: Any) -> Learner:
    """A TextCNN/BiLSTM learner on word2vec embeddings, or an MLP on the feature columns."""
    from alden.models.learner import NetworkLearner

    encoded_for = getattr(data, "settings", {}).get("encoder")
    if encoded_for:  # a project encoded as an encoder's word pieces (issue 12)
        raise AldenError(f"this project's items are encoded for {encoded_for}; model "
                         f"{model!r} needs a project made with its own vocabulary")
    if data.kind == "text":
        sizes: dict[str, Any] = {"embeddings": data.embeddings}
    else:
        sizes = {"n_features": int(data.x.shape[1])}
    return NetworkLearner(model, n_classes=len(data.classes), config=config, **sizes,
                          **model_options)


def _network_class() -> SavedLoader:
    from alden.models.learner import NetworkLearner

    return NetworkLearner


# ---------------------------------------------------------------- the encoder family

def _prepare_pieces(dataset: Dataset, seed: int, model: str, *,
                    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
                    unlabeled: bool = False, **encoding: Any) -> Prepared:
    """The encoder's word pieces (the word models' ``encoding`` options do not apply)."""
    from alden.models.encoder import prepare_encoded

    return prepare_encoded(dataset, seed, model, fractions=fractions, unlabeled=unlabeled)


def _encoder_learner(data: EncodedData, model: str, config: TrainConfig | None = None,
                     **options: Any) -> Learner:
    from alden.models.encoder_learner import encoder_learner_for

    return encoder_learner_for(data, model, config, **options)


def _encoder_class() -> SavedLoader:
    from alden.models.encoder_learner import EncoderLearner

    return EncoderLearner


def _is_setfit(model: str) -> bool:
    return is_encoder(model) and split_regime(model)[1] == "setfit"


def _setfit_learner(data: EncodedData, model: str, config: TrainConfig | None = None,
                    **options: Any) -> Learner:
    from alden.models.setfit_learner import setfit_learner_for

    return setfit_learner_for(data, model, config, **options)


def _setfit_options(model: str) -> object:
    """The fine-tune a ``+setfit`` name's options ask for (``minilm+setfit:self_train=0.1``),
    checked; no torch."""
    from alden.models.setfit_options import tune_config

    return tune_config(model)


def _setfit_class() -> SavedLoader:
    from alden.models.setfit_learner import SetFitLearner

    return SetFitLearner


# ---------------------------------------------------------------- the registry

FAMILIES: tuple[Family, ...] = (
    Family(name="network", listed={"text": ("cnn", "bilstm"), "tabular": ("mlp",)},
           prepare=_prepare_fitted, build=_network_learner,
           learner_class=_network_class, data_key=lambda model: ""),
    # On frozen MiniLM, margin led ALDEN on Subj and MR on all 3 seeds (docs/results.md).
    Family(name="encoder", listed={"text": ("minilm", "encoder:NAME_OR_PATH")},
           open_names=lambda model: is_encoder(model) and not _is_setfit(model),
           prepare=_prepare_pieces, build=_encoder_learner, learner_class=_encoder_class,
           data_key=lambda model: split_regime(model)[0], word_pieces=True,
           strategy="margin"),
    # On the fine-tuned encoder margin trailed random on all 6 (data set, seed) grid cells,
    # by 0.3-2.7 points of AUC; ALDEN on a 1,000 subpool led random by 0.2 on average
    # (MR 3 of 3 seeds, Subj 0 of 2; docs/results.md, "SetFit": the grid).
    Family(name="setfit", listed={"text": ("minilm+setfit", "encoder:NAME_OR_PATH+setfit")},
           open_names=_is_setfit, prepare=_prepare_pieces, build=_setfit_learner,
           learner_class=_setfit_class, data_key=lambda model: split_regime(model)[0],
           word_pieces=True, strategy="alden:subpool=1000", check_options=_setfit_options),
)
SAVED_WITHOUT_FAMILY = "network"  # files written before the field existed


def listed_names(kind: str | None = None) -> tuple[str, ...]:
    """Every model name as listed in messages (of ``kind`` data only, if given)."""
    return tuple(name for family in FAMILIES for k, names in family.listed.items()
                 if kind in (None, k) for name in names)


def fixed_names() -> dict[str, tuple[str, ...]]:
    """Data kind -> the fixed model names that read it (open-ended names not included)."""
    found: dict[str, tuple[str, ...]] = {}
    for family in FAMILIES:
        if family.open_names is None:
            for kind, names in family.listed.items():
                found[kind] = found.get(kind, ()) + names
    return found


def model_family(model: str) -> Family:
    """The family ``model`` belongs to (the options in its name checked), else an error
    listing the model names."""
    for family in FAMILIES:
        if isinstance(model, str) and family.matches(model):
            if family.check_options is not None:
                family.check_options(model)
            return family
    raise AldenError(f"unknown model {model!r}: expected one of {', '.join(listed_names())}")


def data_key(model: str) -> tuple[str, str]:
    """Models with equal keys read the same prepared data (one preparation serves them)."""
    family = model_family(model)
    return family.name, family.data_key(model)


def prepare_for(model: str, dataset: Dataset, seed: int, *,
                fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
                unlabeled: bool = False, **encoding: Any) -> Prepared:
    """``dataset`` split by ``seed`` (``unlabeled``: not split) and encoded as ``model``
    reads it; ``encoding``: the word models' options (embedding_dim, max_len, ...)."""
    return model_family(model).prepare(dataset, seed, model, fractions=fractions,
                                       unlabeled=unlabeled, **encoding)


def load_learner(path: str | os.PathLike, *,
                 device: str | torch.device | None = None) -> Learner:
    """The learner saved at ``path``, of the class its family names; nothing is unpickled."""
    from alden.models.saved import read_learner

    payload, description = read_learner(path)
    name = description.get("family", SAVED_WITHOUT_FAMILY)
    for family in FAMILIES:
        if family.name == name:
            return family.learner_class().from_saved(payload, description, path, device)
    raise AldenError(f"{path}: a learner of family {name!r}, which this version of alden "
                     f"does not know (it knows {', '.join(f.name for f in FAMILIES)})")
