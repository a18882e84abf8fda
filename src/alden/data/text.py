"""Text processing: tokenizer, vocabulary, padding, and word2vec vectors with an on-disk cache."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1

# The longest text a model reads, in words (tokens): longer texts are cut to their first
# MAX_WORDS. The paper's sets stay whole (the longest Subj sentence has 120 tokens, MR 59),
# while one huge text (a 1 MB cell) cannot make every row of the encoded pool as wide as
# itself: the pool is at most N x MAX_WORDS ids. `alden init --max-words` and
# `alden benchmark --max-words` change it.
MAX_WORDS = 200
_ENCODE_ROWS = 1 << 14  # rows Vocab.encode fills at a time

# The tokenizer for raw user text, after NFKC normalisation and lower-casing. Alternatives
# are tried in order at each position:
#   1. a number with decimal or thousands separators, kept whole: 3.5, 10,000
#   2. a word of letters, digits or "_", with inner apostrophes or hyphens: don't, well-known
#   3. any other single non-space character: punctuation, symbols, emoji each on their own
_TOKEN = re.compile(r"\d+(?:[.,]\d+)+(?!\w)|\w+(?:['\-]\w+)*|[^\w\s]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def tokenize(text: str) -> list[str]:
    """Split raw text into lower-case tokens with punctuation split off (see ``_TOKEN``)."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    return _TOKEN.findall(text)


def tokenize_texts(texts: Iterable[str], pretokenized: bool) -> list[list[str]]:
    """Token lists of ``texts``: whitespace split for pre-tokenised sets, else ``tokenize``.

    Equal tokens share one string object, so the lists of a large pool hold a pointer per
    token, not a string (a million texts: about 0.2 GB instead of 1.3 GB).
    """
    split = str.split if pretokenized else tokenize
    shared: dict[str, str] = {}
    return [[shared.setdefault(token, token) for token in split(text)] for text in texts]


@dataclass(frozen=True)
class Vocab:
    """Token id <-> word; id 0 is ``<pad>``, id 1 is ``<unk>``, then words by frequency."""

    words: tuple[str, ...]
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.words[:2] != (PAD, UNK):
            raise ValueError(f"a vocabulary starts with {PAD!r}, {UNK!r}, not {self.words[:2]}")
        index = {word: i for i, word in enumerate(self.words)}
        if len(index) != len(self.words):
            raise ValueError("a vocabulary has each word once")
        index[PAD] = UNK_ID  # a literal "<pad>" in a text is a word we do not know, never a pad
        object.__setattr__(self, "index", index)

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_count: int = 1) -> Vocab:
        """Vocabulary of the words seen at least ``min_count`` times, by count desc, then word."""
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count}")
        counts = Counter(token for tokens in token_lists for token in tokens)
        del counts[PAD], counts[UNK]
        kept = sorted((w for w, c in counts.items() if c >= min_count),
                      key=lambda w: (-counts[w], w))
        return cls((PAD, UNK, *kept))

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, token_lists: Sequence[Sequence[str]], max_len: int | None = None
               ) -> np.ndarray:
        """``(N, L)`` int64 ids, right-padded with 0; L is the longest row, cut at ``max_len``.

        Unknown words become ``<unk>``, and so does an empty sentence, so every row has at
        least one non-pad token.
        """
        if max_len is not None and max_len < 1:
            raise ValueError(f"max_len must be at least 1, got {max_len}")
        lengths = np.fromiter((len(tokens) for tokens in token_lists), dtype=np.int64,
                              count=len(token_lists))
        if max_len is not None:
            np.minimum(lengths, max_len, out=lengths)
        np.maximum(lengths, 1, out=lengths)
        ids = np.zeros((len(token_lists), int(lengths.max(initial=1))), dtype=np.int64)
        # Filled a block of rows at a time through a flat array of the block's ids (an empty
        # row gets <unk>): no Python list per row, temporaries bounded by the block.
        positions = np.arange(ids.shape[1])[None, :]
        for start in range(0, len(token_lists), _ENCODE_ROWS):
            block = lengths[start:start + _ENCODE_ROWS]
            flat = np.fromiter(
                (self.index.get(t, UNK_ID) for tokens in token_lists[start:start + _ENCODE_ROWS]
                 for t in (tokens[:max_len] or (UNK,))), dtype=np.int64, count=int(block.sum()))
            ids[start:start + len(block)][positions < block[:, None]] = flat
        return ids

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Words of a row of ids, pads left out."""
        return [self.words[i] for i in ids if i != PAD_ID]


@dataclass(frozen=True)
class PieceVocab:
    """A pretrained tokenizer's vocabulary as a pool sees it: ``words[id]``;
    ``continues[id]`` is True for a WordPiece piece that continues the word before it
    ("##ing"). Its encoder (``alden.models.encoder``) turns texts into these ids."""

    words: tuple[str, ...]
    continues: np.ndarray = field(repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.words)


@dataclass(frozen=True)
class WordVectors:
    """word2vec output: ``vectors[i]`` is the float32 vector of ``words[i]``."""

    words: tuple[str, ...]
    vectors: np.ndarray = field(repr=False)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def cache_dir() -> Path:
    """Where derived files are cached: ``$ALDEN_CACHE``, else ``~/.cache/alden/cache``."""
    env = os.environ.get("ALDEN_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "alden" / "cache"


# word2vec on a large corpus: up to FULL_EPOCHS_TOKENS tokens a corpus gets every epoch
# asked for (Subj's and MR's pools, about 0.24 M tokens each, stay exactly as they were);
# above, the epochs shrink so that epochs x tokens stays about the same budget, never below
# MIN_EPOCHS (Mikolov's default), since a word seen in many more sentences needs fewer passes
# (measured: docs/results.md, "Large pools").
FULL_EPOCHS_TOKENS = 2_000_000
MIN_EPOCHS = 5


def word2vec_epochs(n_tokens: int, epochs: int) -> int:
    """The epochs word2vec runs over a corpus of ``n_tokens``: ``epochs`` up to
    ``FULL_EPOCHS_TOKENS``, then about ``epochs * FULL_EPOCHS_TOKENS / n_tokens``, at least
    ``MIN_EPOCHS`` (and never more than asked)."""
    if n_tokens <= FULL_EPOCHS_TOKENS:
        return epochs
    return min(epochs, max(MIN_EPOCHS, math.ceil(epochs * FULL_EPOCHS_TOKENS / n_tokens)))


def train_word2vec(token_lists: Sequence[Sequence[str]], *, seed: int, dim: int = 100,
                   epochs: int = 40, window: int = 5, min_count: int = 1, sg: int = 0,
                   negative: int = 5, sample: float = 1e-3, cache: bool = True,
                   directory: Path | None = None) -> WordVectors:
    """word2vec vectors of a corpus (gensim, one worker, seeded: same input, same vectors).

    One worker because gensim's workers share the updates in whatever order their threads
    run, so two runs differ; word2vec is seeded and cached and the same seed must give the
    same vectors. Large corpora are made cheap by fewer epochs instead (``word2vec_epochs``).

    With ``cache`` the result is stored under ``directory`` (default ``cache_dir()``), keyed
    by a hash of the corpus and every parameter, and read back instead of training again.
    The defaults are those of Mikolov's word2vec tool (CBOW, window 5, 5 negatives) except
    ``min_count=1``, so every word of a small corpus gets a vector, and 40 epochs instead of
    5: on the Subj pool (144k tokens) 5 epochs give vectors that classify worse than random
    ones (benchmarks/bench_word2vec.py: mean-vector logistic regression, val accuracy 0.65
    vs 0.72 random, 0.84 at 20 epochs, 0.87 at 40, 0.88 at 80).
    """
    import gensim  # imported here: it takes a second and most commands never need it

    epochs = word2vec_epochs(sum(len(tokens) for tokens in token_lists), epochs)
    params = {"dim": dim, "epochs": epochs, "window": window, "min_count": min_count,
              "sg": sg, "negative": negative, "sample": sample, "seed": seed,
              "gensim": gensim.__version__}
    entry = None
    if cache:
        entry = (directory or cache_dir()) / "word2vec" / _corpus_key(token_lists, params)
        found = _read_entry(entry)
        if found is not None:
            return found
    result = _fit_word2vec(token_lists, params)
    if entry is not None:
        _write_entry(entry, result, params)
    return result


def _fit_word2vec(token_lists: Sequence[Sequence[str]], params: dict) -> WordVectors:
    """Train gensim's Word2Vec; an empty corpus gives no vectors rather than gensim's error."""
    from gensim.models import Word2Vec

    counts = Counter(t for tokens in token_lists for t in tokens)
    if not any(c >= params["min_count"] for c in counts.values()):
        return WordVectors((), np.zeros((0, params["dim"]), dtype=np.float32))
    sentences = token_lists if isinstance(token_lists, list) else list(token_lists)
    model = Word2Vec(sentences=sentences, vector_size=params["dim"],
                     window=params["window"], min_count=params["min_count"], sg=params["sg"],
                     negative=params["negative"], sample=params["sample"],
                     epochs=params["epochs"], seed=params["seed"], workers=1)
    return WordVectors(tuple(model.wv.index_to_key),
                       np.asarray(model.wv.vectors, dtype=np.float32))


def _corpus_key(token_lists: Iterable[Sequence[str]], params: dict) -> str:
    """sha256 of the parameters and the corpus, each sentence as a JSON list (unambiguous)."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for tokens in token_lists:
        digest.update(json.dumps(list(tokens), ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _read_entry(entry: Path) -> WordVectors | None:
    """A cached entry, or None when it is missing or unreadable (then it is trained again)."""
    try:
        words = json.loads((entry / "words.json").read_text(encoding="utf-8"))
        vectors = np.load(entry / "vectors.npy", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if (not isinstance(words, list) or vectors.ndim != 2 or len(words) != len(vectors)
            or vectors.dtype != np.float32):
        return None
    return WordVectors(tuple(words), vectors)


def _write_entry(entry: Path, result: WordVectors, params: dict) -> None:
    """Write an entry into a temporary folder, then rename it into place in one step.

    An interrupted write leaves at most a stray temporary folder, never a half entry; a
    broken entry already in place is replaced. A read-only cache is skipped silently.
    """
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name[:16]}-", dir=entry.parent))
    except OSError:
        return
    try:
        np.save(tmp / "vectors.npy", result.vectors, allow_pickle=False)
        (tmp / "params.json").write_text(json.dumps(params, sort_keys=True), encoding="utf-8")
        (tmp / "words.json").write_text(json.dumps(list(result.words), ensure_ascii=False),
                                        encoding="utf-8")
        if entry.exists():  # broken (it failed to read): make room for the new one
            shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
    except OSError:
        pass  # another process wrote the same entry first, or the disk is full
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def embedding_matrix(vocab: Vocab, vectors: WordVectors, rng: np.random.Generator
                     ) -> np.ndarray:
    """``(V, d)`` float32 initial embeddings: word2vec rows, zeros for ``<pad>``, and
    uniform(-0.25, 0.25) for words without a vector (``<unk>`` too), as Kim (2014) did."""
    matrix = rng.uniform(-0.25, 0.25, size=(len(vocab), vectors.dim)).astype(np.float32)
    row_of = {word: i for i, word in enumerate(vectors.words)}
    ids = [i for i, w in enumerate(vocab.words) if w in row_of and i != PAD_ID]
    matrix[ids] = vectors.vectors[[row_of[vocab.words[i]] for i in ids]]
    matrix[PAD_ID] = 0.0
    return matrix
