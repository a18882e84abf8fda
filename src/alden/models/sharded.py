"""Per-item scoring (probabilities, hidden layers, gradient scores, ALDEN's interpretations)
spread over the Ray cluster of ``--ray-address`` in shards, with the same floats as one
process, each shard's result kept on disk until the whole pass is done (issue 22).

``sharded_learner`` wraps a trained learner while ``alden.cluster`` is attached (else it
gives the learner back). The wrapper ships the learner's saved file once (``ray.put``) and
cuts the rows of a call into shards in the order the learner's batches take them (text:
longest first, as ``alden.models.quantities`` sorts; tables: as given), every
``SHARD_BATCHES`` batches of its ``eval_batch_size``: each shard computes exactly the
batches one process would, so every float is the same. Results go into one preallocated
array as shards finish. Each finished shard is saved under ``$ALDEN_CACHE/shards``, keyed
by the weights' digest, what is computed and the shard's rows, so a pass that lost its
driver or its cluster recomputes only the missing shards when run again; a pass that ends
deletes its files (a worker that dies mid-pass is retried by Ray itself). A call of one
shard, and what a frozen encoder reads from its table of pooled embeddings
(``TABLE_METHODS``), stay in this process; so does MC dropout (one draw over all batches).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from alden import cluster
from alden.models.contract import fit_learner
from alden.models.feature_store import piece_lengths
from alden.models.outputs import DEFAULT_OUTPUT

if TYPE_CHECKING:
    from alden.models.contract import Learner, TrainConfig

SHARD_BATCHES = 16  # scoring batches per shard (TextCNN: 16 x 256 = 4,096 rows)
FOLDER = "shards"  # under alden's cache folder
STALE_SECONDS = 7 * 86400  # shard files of a pass never run again go after a week
# What a frozen encoder (alden.models.encoder_learner) reads from its pooled table: cheaper
# here than shipping the items.
TABLE_METHODS = ("predict_proba", "hidden", "badge_embeddings")


def batch_order(x: np.ndarray) -> np.ndarray:
    """Rows in the order the scoring batches take them: text (token ids) longest first,
    ties in row order (``quantities._batches``); features as given."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer):
        return np.arange(len(x))
    return np.argsort(-piece_lengths(x), kind="stable")


def shard_rows(x: np.ndarray, batch_size: int, shard_batches: int = SHARD_BATCHES
               ) -> list[np.ndarray]:
    """The rows of each shard: ``batch_order`` cut every ``shard_batches`` batches."""
    order, step = batch_order(x), batch_size * shard_batches
    return [order[start:start + step] for start in range(0, len(order), step)]


# ---------------------------------------------------------------- the shards' files

class ShardFiles:
    """Finished shards of one pass on disk: one ``.npy`` per shard, named by a digest of
    the shard's rows, in a folder per (weights, what is computed). A file that cannot be
    read is computed again; one that cannot be written is not kept."""

    def __init__(self, root: Path, key: str) -> None:
        self.root = root
        self.folder = root / key
        self.used: list[Path] = []

    def path(self, rows: np.ndarray) -> Path:
        rows = np.ascontiguousarray(rows)
        digest = hashlib.blake2b(rows.tobytes(), digest_size=16)
        digest.update(f"{rows.dtype}{rows.shape}".encode())
        path = self.folder / f"{digest.hexdigest()}.npy"
        self.used.append(path)
        return path

    @staticmethod
    def load(path: Path) -> np.ndarray | None:
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None

    def save(self, path: Path, values: np.ndarray) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.folder, suffix=".tmp",
                                             delete=False) as tmp:
                np.save(tmp, values, allow_pickle=False)
            os.replace(tmp.name, path)
        except OSError:
            pass

    def finish(self) -> None:
        """Delete this pass's files (its result is in memory now) and week-old ones."""
        for path in self.used:
            path.unlink(missing_ok=True)
        sweep(self.root)


def sweep(root: Path, now: float | None = None) -> None:
    """Delete shard files under ``root`` untouched for ``STALE_SECONDS``, and empty folders."""
    now = time.time() if now is None else now
    for folder in (root.iterdir() if root.is_dir() else ()):
        for path in folder.glob("*"):
            try:
                if now - path.stat().st_mtime > STALE_SECONDS:
                    path.unlink()
            except OSError:
                pass
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass


def run_shards(fn: Callable[..., np.ndarray], common: tuple, x: np.ndarray,
               parts: list[np.ndarray], files: ShardFiles,
               put: Callable[[int, np.ndarray], None]) -> dict[str, int]:
    """``fn(*common, x[rows])`` for each shard's ``rows`` of ``parts``: read from ``files``
    when saved there, else run on the cluster (``cluster.as_finished``) and saved; each
    result handed to ``put(shard, result)`` as it comes. Returns the shards computed and
    read back."""
    todo = []
    for i, rows in enumerate(parts):
        saved = ShardFiles.load(path) if (path := files.path(x[rows])).is_file() else None
        if saved is None:
            todo.append((i, path))
        else:
            put(i, saved)
    paths = dict(todo)
    for i, result in cluster.as_finished(fn, ((i, (*common, x[parts[i]])) for i, _ in todo)):
        files.save(paths[i], result)
        put(i, result)
    return {"computed": len(todo), "cached": len(parts) - len(todo)}


# ---------------------------------------------------------------- the worker's side

_LOADED: dict[str, Learner] = {}  # learners this worker process loaded, by digest


def worker_learner(saved: bytes) -> Learner:
    """The learner of a saved file's bytes, loaded once per worker process."""
    digest = hashlib.sha256(saved).hexdigest()
    if digest not in _LOADED:
        from alden.models.families import load_learner

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "learner.pt"
            path.write_bytes(saved)
            learner = load_learner(path, device="cpu")
        if len(_LOADED) >= 2:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[digest] = learner
    return _LOADED[digest]


def score_shard(saved: bytes, method: str, args: tuple, x: np.ndarray) -> np.ndarray:
    """Ray side: the learner's ``method(x, *args)``; interpretations as one flat array."""
    result = getattr(worker_learner(saved), method)(x, *args)
    if method == "token_interpretations":
        return np.concatenate(result)
    if method == "token_interpretations_flat":  # (T, C) values over (N, C) probabilities
        values, _, proba = result
        return np.concatenate([values, proba.astype(values.dtype, copy=False)])
    return np.asarray(result)


# ---------------------------------------------------------------- the driver's side

def sharded_learner(learner: Learner, shard_batches: int | None = None) -> Learner:
    """``learner`` whose scoring runs in shards of ``shard_batches`` batches (default
    ``SHARD_BATCHES``) on the attached cluster; ``learner`` itself when none is attached
    (``alden.cluster.attached``)."""
    if not cluster.active():
        return learner
    return ShardedLearner(learner, SHARD_BATCHES if shard_batches is None else shard_batches)


class ShardedLearner:
    """A trained learner whose per-item scoring runs in shards on the Ray cluster (see the
    module docstring); everything else is the learner's own. ``stats`` counts the shards
    computed on the cluster and read back from disk."""

    def __init__(self, learner: Learner, shard_batches: int = SHARD_BATCHES) -> None:
        self.learner = learner
        self.model_name: str = learner.model_name
        self.n_classes: int = learner.n_classes
        self.config: TrainConfig = learner.config
        self.history: list[dict[str, float]] = learner.history
        self.shard_batches = shard_batches
        self.stats = {"computed": 0, "cached": 0}
        self._shipped: tuple[str, Any] | None = None  # (digest, ray object of the bytes)

    def __getattr__(self, name: str) -> Any:  # anything else the learner has
        if "learner" not in self.__dict__:  # while copied or unpickled
            raise AttributeError(name)
        return getattr(self.__dict__["learner"], name)

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None, *, seed: int,
            on_epoch: Callable[..., None] | None = None,
            unlabeled: np.ndarray | None = None) -> ShardedLearner:
        fit_learner(self.learner, x, y, x_val, y_val, seed=seed, on_epoch=on_epoch,
                    unlabeled=None if unlabeled is None else lambda: unlabeled)
        self.history, self._shipped = self.learner.history, None
        return self

    def save(self, path: str | os.PathLike) -> None:
        self.learner.save(path)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self._rows("predict_proba", x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)

    def predict_proba_mc(self, x: np.ndarray, samples: int, seed: int) -> np.ndarray:
        return self.learner.predict_proba_mc(x, samples, seed)  # one draw: not sharded

    def hidden(self, x: np.ndarray) -> np.ndarray:
        return self._rows("hidden", x)

    def badge_embeddings(self, x: np.ndarray) -> np.ndarray:
        return self._rows("badge_embeddings", x)

    def egl_word_scores(self, x: np.ndarray) -> np.ndarray:
        return self._rows("egl_word_scores", x)

    def egl_input_scores(self, x: np.ndarray) -> np.ndarray:
        return self._rows("egl_input_scores", x)

    def input_jacobian(self, x: np.ndarray, output: str = DEFAULT_OUTPUT) -> np.ndarray:
        return self._rows("input_jacobian", x, output)

    def word_embeddings(self) -> np.ndarray:
        return np.asarray(self.learner.word_embeddings())  # type: ignore[attr-defined]

    def token_interpretations(self, x: np.ndarray, output: str = DEFAULT_OUTPUT
                              ) -> list[np.ndarray]:
        """ALDEN's interpretations per item, computed in shards into one flat array."""
        x = np.asarray(x)
        parts = self._parts("token_interpretations", x)
        if parts is None:
            return self.learner.token_interpretations(x, output)  # type: ignore[attr-defined]
        lengths = piece_lengths(x)
        offsets = np.zeros(len(x) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values: np.ndarray | None = None

        def put(i: int, flat: np.ndarray) -> None:
            nonlocal values
            if values is None:
                values = np.empty((int(offsets[-1]), flat.shape[1]), dtype=flat.dtype)
            values[_positions(offsets, lengths, parts[i])] = flat
        self._run("token_interpretations", (output,), x, parts, put)
        assert values is not None
        return [values[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]

    @property
    def token_interpretations_flat(self) -> Callable[..., tuple[np.ndarray, np.ndarray,
                                                             np.ndarray]]:
        """The learner's flat interpretation pass, in shards; absent (AttributeError) where
        the learner has none, so callers fall back to ``token_interpretations`` as for it."""
        if not hasattr(self.learner, "token_interpretations_flat"):
            raise AttributeError("token_interpretations_flat")
        return self._flat_interpretations

    def _flat_interpretations(self, x: np.ndarray, output: str = DEFAULT_OUTPUT
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ALDEN's interpretations as one flat array, its offsets and the probabilities the
        pass computes, in shards (each shard's block: its tokens' rows, then its items')."""
        x = np.asarray(x)
        parts = self._parts("token_interpretations_flat", x)
        if parts is None:
            return self.learner.token_interpretations_flat(  # type: ignore[attr-defined]
                x, output)
        lengths = piece_lengths(x)
        offsets = np.zeros(len(x) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        out: dict[str, np.ndarray] = {}

        def put(i: int, block: np.ndarray) -> None:
            if not out:
                out["values"] = np.empty((int(offsets[-1]), block.shape[1]), dtype=block.dtype)
                out["proba"] = np.empty((len(x), block.shape[1]), dtype=block.dtype)
            tokens = int(lengths[parts[i]].sum())
            out["values"][_positions(offsets, lengths, parts[i])] = block[:tokens]
            out["proba"][parts[i]] = block[tokens:]
        self._run("token_interpretations_flat", (output,), x, parts, put)
        return out["values"], offsets, out["proba"]

    # ------------------------------------------------------------ the work

    def _parts(self, method: str, x: np.ndarray) -> list[np.ndarray] | None:
        """The shards of a call, or None where it runs here (one shard, or a method the
        learner computes better at home)."""
        if method in TABLE_METHODS and getattr(self.learner, "regime", None) == "frozen":
            return None  # a frozen encoder's table: one pass through the head
        parts = shard_rows(x, self.config.eval_batch_size, self.shard_batches)
        return parts if len(parts) > 1 else None

    def _rows(self, method: str, x: np.ndarray, *args: Any) -> np.ndarray:
        """``method(x, *args)`` of the learner, one result row per item, in shards."""
        x = np.asarray(x)
        parts = self._parts(method, x)
        if parts is None:
            return np.asarray(getattr(self.learner, method)(x, *args))
        out: np.ndarray | None = None

        def put(i: int, result: np.ndarray) -> None:
            nonlocal out
            if out is None:
                out = np.empty((len(x), *result.shape[1:]), dtype=result.dtype)
            out[parts[i]] = result
        self._run(method, args, x, parts, put)
        assert out is not None
        return out

    def _run(self, method: str, args: tuple, x: np.ndarray, parts: list[np.ndarray],
             put: Callable[[int, np.ndarray], None]) -> None:
        digest, shipped = self._ship()
        what = json.dumps([digest, method, list(args), self.config.eval_batch_size])
        from alden.data.text import cache_dir

        files = ShardFiles(cache_dir() / FOLDER,
                           hashlib.sha256(what.encode()).hexdigest()[:32])
        counts = run_shards(score_shard, (shipped, method, args), x, parts, files, put)
        files.finish()
        for key, n in counts.items():
            self.stats[key] += n

    def _ship(self) -> tuple[str, Any]:
        """(digest, Ray object) of the learner's saved file, put on the cluster once."""
        if self._shipped is None:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "learner.pt"
                self.learner.save(path)
                saved = path.read_bytes()
            ray = cluster.import_ray()
            self._shipped = hashlib.sha256(saved).hexdigest(), ray.put(saved)
        return self._shipped


def _positions(offsets: np.ndarray, lengths: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Indices into the flat interpretations of every token of ``rows``, in row order."""
    counts = lengths[rows]
    starts = np.repeat(offsets[rows], counts)
    within = np.arange(len(starts)) - np.repeat(np.cumsum(counts) - counts, counts)
    return starts + within
