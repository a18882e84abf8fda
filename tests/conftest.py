"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# The suite draws the same hypothesis examples on every run, so CI passes or fails alike each
# time; HYPOTHESIS_PROFILE=explore draws fresh ones (and found the k-center tie fixed in
# test_selection's reference).
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared copies of the paper's data sets ($ALDEN_DATA, else ../shared/datasets)."""
    root = Path(os.environ.get("ALDEN_DATA") or Path(__file__).parents[2] / "shared" / "datasets")
    if not (root / "subj").is_dir():
        pytest.skip(f"no shared data sets at {root} (set ALDEN_DATA)")
    return root


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> str:
    """A tiny random sentence encoder (test_encoder's ``make_tiny_encoder``), as a model name."""
    pytest.importorskip("transformers", reason="the alden[encoders] extra is not installed")
    from test_encoder import make_tiny_encoder

    return "encoder:" + str(make_tiny_encoder(tmp_path_factory.mktemp("tiny") / "bert"))


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of the test's own ($ALDEN_CACHE: word2vec vectors, encodings), never the
    user's; modules whose tests all need one say ``pytestmark = usefixtures(...)``."""
    path = tmp_path / "cache"
    monkeypatch.setenv("ALDEN_CACHE", str(path))
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module of tiny models: more threads only add overhead on a
    shared, busy machine. Restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
