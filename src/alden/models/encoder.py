"""Pretrained sentence encoders as alden models: loading, word pieces, the classifier.

A model name ``minilm`` (all-MiniLM-L6-v2) or ``encoder:NAME_OR_PATH`` names a
sentence-transformers encoder (a BERT-style transformer, then mean/CLS/max pooling, then
optionally a unit-length normalisation). ``EncoderClassifier`` puts a dropout layer and a
linear head on its pooled embedding and has the interface of the other text models
(``embedding``, ``forward_embedded(e, mask)``, ``features``, ``hidden``, ``dropout``,
``head``), so ``alden.models.quantities`` computes gradients with respect to the
encoder's input token embeddings through it exactly as for the TextCNN.

Items are encoded as the tokenizer's word-piece ids *without* [CLS] and [SEP], right-padded
with 0 (BERT's [PAD]); the classifier adds [CLS] and [SEP] itself. So pools, kernels and
strategies see one token per word piece and never a special token, and Eq. (4) is the
gradient with respect to each piece's input embedding (before positions are added), times
that embedding. Tokenizers whose pad id is not 0 are refused.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from torch import nn

from alden.data.text import PieceVocab
from alden.errors import AldenError, DataError
from alden.models.encoder_weights import encoder_source, files_hash, find_encoder, read_json

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PretrainedConfig, PreTrainedModel

    from alden.data.datasets import Dataset
    from alden.data.prepare import Prepared

POOLINGS = ("mean", "cls", "max")


@dataclass(frozen=True)
class Encoder:
    """A loaded encoder: its folder, fingerprint, tokenizer and settings (the transformer
    itself is built per classifier by ``new_transformer``, so each learner owns its copy)."""

    folder: Path
    key: str  # files_hash of the folder
    tokenizer: Tokenizer = field(repr=False)  # no truncation or padding
    vocab: PieceVocab = field(repr=False)
    cls_id: int
    sep_id: int
    unk_id: int
    pooling: str
    normalize: bool
    max_pieces: int  # pieces per item, [CLS] and [SEP] not counted
    dim: int

    def new_transformer(self, shared: bool = False) -> PreTrainedModel:
        """The transformer with the folder's weights (safetensors only), in eval mode; with
        ``shared``, one frozen instance per process (for classifiers that never train it)."""
        if shared:
            return _shared_transformer(str(self.folder), self.key)
        return _load_transformer(str(self.folder), self.key)


@functools.lru_cache(maxsize=4)
def _load_transformer_cached(folder: str, key: str
                             ) -> tuple[dict[str, torch.Tensor], PretrainedConfig]:
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModel.from_pretrained(folder, local_files_only=True, use_safetensors=True)
    except Exception as err:  # transformers raises many kinds for a bad folder
        raise AldenError(f"{folder}: the transformer could not be loaded ({err})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, model.config


# Plain ("eager") attention rather than PyTorch's fused kernel (SDPA): on CPU the fused
# kernel's backward is slower, so ALDEN's and EGL-Word's input-gradient pass costs 1.96x an
# encoding pass with it against 2.06x (whole Subj pool, one run; benchmarks/bench_encoder.py).
ATTENTION = "eager"


@functools.lru_cache(maxsize=2)
def _shared_transformer(folder: str, key: str) -> PreTrainedModel:
    model = _load_transformer(folder, key)
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def _load_transformer(folder: str, key: str) -> PreTrainedModel:
    """A fresh copy of the transformer (the loaded state is kept once per process)."""
    from transformers import AutoModel

    state, config = _load_transformer_cached(folder, key)
    with torch.random.fork_rng(devices=[]):
        model = AutoModel.from_config(config, attn_implementation=ATTENTION)
    model.load_state_dict(state)
    return model.eval()


@functools.lru_cache(maxsize=8)
def load_encoder(model: str) -> Encoder:
    """The encoder a model name stands for, found offline (``find_encoder``), checked."""
    from tokenizers import Tokenizer

    folder = find_encoder(encoder_source(model)).resolve()
    config = read_json(folder / "config.json", {})
    special = {**(read_json(folder / "tokenizer_config.json", {}) or {}),
               **(read_json(folder / "special_tokens_map.json", {}) or {})}
    try:
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as err:
        raise AldenError(f"{folder / 'tokenizer.json'}: not a tokenizer ({err})") from None
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def token_id(role: str, default: str) -> int:
        name = special.get(role, default)
        name = name.get("content", default) if isinstance(name, dict) else name
        found = tokenizer.token_to_id(name)
        if found is None:
            raise AldenError(f"{folder}: the tokenizer has no {role} {name!r}")
        return int(found)

    pad_id = token_id("pad_token", "[PAD]")
    if pad_id != 0:
        raise AldenError(f"{folder}: the tokenizer's pad token has id {pad_id}; alden's "
                         "pools pad with 0, so only encoders whose pad id is 0 (BERT-style "
                         "WordPiece, as all-MiniLM-L6-v2) are supported")
    size = int(config.get("vocab_size", tokenizer.get_vocab_size()))
    words = [f"#{i}" for i in range(size)]
    for word, i in tokenizer.get_vocab().items():
        if 0 <= i < size:
            words[i] = word
    wordpiece = type(tokenizer.model).__name__ == "WordPiece"
    prefix = getattr(tokenizer.model, "continuing_subword_prefix", "##") if wordpiece else ""
    continues = np.array([bool(prefix) and w.startswith(prefix) and len(w) > len(prefix)
                          for w in words])
    pooling_config = read_json(folder / "1_Pooling" / "config.json", {}) or {}
    pooling = ("cls" if pooling_config.get("pooling_mode_cls_token") else
               "max" if pooling_config.get("pooling_mode_max_tokens") else "mean")
    modules = read_json(folder / "modules.json", []) or []
    normalize = any(str(m.get("type", "")).endswith("Normalize") for m in modules)
    st_config = read_json(folder / "sentence_bert_config.json", {}) or {}
    max_len = int(st_config.get("max_seq_length", config.get("max_position_embeddings", 512)))
    max_len = min(max_len, int(config.get("max_position_embeddings", max_len)))
    return Encoder(folder=folder, key=files_hash(folder), tokenizer=tokenizer,
                   vocab=PieceVocab(tuple(words), continues),
                   cls_id=token_id("cls_token", "[CLS]"), sep_id=token_id("sep_token", "[SEP]"),
                   unk_id=token_id("unk_token", "[UNK]"), pooling=pooling, normalize=normalize,
                   max_pieces=max(1, max_len - 2), dim=int(config.get("hidden_size", 0)))


def encode_texts(encoder: Encoder, texts: list[str]) -> np.ndarray:
    """``(N, L)`` int64 word-piece ids without special tokens, right-padded with 0 and cut
    at the encoder's length; an empty text becomes one [UNK] so every row has a token."""
    if any(not isinstance(t, str) for t in texts):
        raise DataError("the encoder reads texts (strings); got another type")
    rows = [e.ids[:encoder.max_pieces] or [encoder.unk_id]
            for e in encoder.tokenizer.encode_batch(list(texts), add_special_tokens=False)]
    width = max((len(r) for r in rows), default=1)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
    return ids


class EncoderClassifier(nn.Module):
    """Encoder, pooling, (normalisation), dropout, linear head: logits from piece ids.

    ``forward_embedded(e, mask)`` takes the input embeddings of the real pieces (no [CLS],
    [SEP] or pads needed) and adds [CLS] before and [SEP] after each row's pieces, as the
    tokenizer would; pads after [SEP] are masked out of attention and pooling.
    """

    def __init__(self, encoder: Encoder, n_classes: int, dropout: float = 0.1,
                 shared: bool = False) -> None:
        super().__init__()
        self.transformer = encoder.new_transformer(shared)  # shared: frozen, never trained
        # BERT-style transformers (the only ones accepted: pad id 0) embed with a table
        self.embedding = cast(nn.Embedding, self.transformer.get_input_embeddings())
        self.cls_id, self.sep_id = encoder.cls_id, encoder.sep_id
        self.pooling, self.normalize = encoder.pooling, encoder.normalize
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.embedding.weight.shape[1], n_classes)

    def set_encoder_trainable(self, trainable: bool) -> None:
        """Frozen encoder: no parameter gradients are kept or computed for it."""
        for param in self.transformer.parameters():
            param.requires_grad_(trainable)

    def features_embedded(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pooled sentence embeddings ``(B, H)`` of piece embeddings ``e (B, L, d)``."""
        batch, length, _ = e.shape
        lengths = mask.sum(1)
        table = self.embedding.weight
        cls = table[self.cls_id].expand(batch, 1, -1)
        seq = torch.cat([cls, e * mask.unsqueeze(-1).to(e.dtype), torch.zeros_like(cls)], 1)
        steps = torch.arange(length + 2, device=e.device)
        at_sep = (steps.unsqueeze(0) == (lengths + 1).unsqueeze(1)).unsqueeze(-1)
        seq = torch.where(at_sep, table[self.sep_id].to(seq.dtype), seq)
        attention = (steps.unsqueeze(0) <= (lengths + 1).unsqueeze(1)).to(e.dtype)
        states = self.transformer(inputs_embeds=seq, attention_mask=attention).last_hidden_state
        if self.pooling == "cls":
            pooled = states[:, 0]
        elif self.pooling == "max":
            pooled = states.masked_fill(attention.unsqueeze(-1) == 0, float("-inf")).amax(1)
        else:
            weights = attention.unsqueeze(-1)
            pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled embeddings ``(B, H)`` of piece ids ``x (B, L)`` (pads 0, trailing)."""
        return self.features_embedded(self.embedding(x), x != 0)

    def hidden_embedded(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.features_embedded(e, mask))

    def forward_embedded(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits from piece embeddings ``e (B, L, d)`` and ``mask (B, L)``."""
        return self.head(self.hidden_embedded(e, mask))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The head's input: pooled embeddings after dropout."""
        return self.dropout(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(x))


def prepare_encoded(dataset: Dataset, seed: int, model: str, *,
                    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
                    unlabeled: bool = False) -> Prepared:
    """``alden.data.prepare.Prepared`` for an encoder: the same split as ``prepare`` (it
    depends only on the labels and the seed), items as word-piece ids, the tokenizer's
    vocabulary (with which pieces continue a word) instead of a fitted one, no word2vec."""
    from alden.data.prepare import Prepared, _check_dataset, split_indices

    _check_dataset(dataset)
    if dataset.kind != "text" or dataset.texts is None:
        raise DataError(f"model {model!r} reads text; data set {dataset.name!r} is "
                        f"{dataset.kind}")
    encoder = load_encoder(model)
    if unlabeled:
        train = np.arange(len(dataset))
        val = test = train[:0]
    else:
        train, val, test = split_indices(dataset.labels, seed, fractions)
    return Prepared(name=dataset.name, kind="text", x=encode_texts(encoder, dataset.texts),
                    y=np.asarray(dataset.labels, dtype=np.int64), train_idx=train,
                    val_idx=val, test_idx=test, classes=tuple(dataset.label_names),
                    ids=list(dataset.ids), vocab=encoder.vocab, texts=dataset.texts)
