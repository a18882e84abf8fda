"""Helpers for the tests of `alden serve`: tiny projects, a signed-in client, a live server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from alden.data.text import Vocab, tokenize_texts
from alden.project import store
from alden.strategies.reasons import Reason

XSS = ['<script>window.__xss = 1</script> a plot so bad',
       'good film <img src=x onerror="window.__xss = 2"> fine cast',
       '"><svg onload="window.__xss=3"> long story']


def web_project(folder: Path, texts: list[str], picks: int = 4,
                classes: tuple[str, ...] = ("neg", "pos"), heat: bool = True) -> Path:
    """A text project written directly (no word2vec), with a round of ``picks`` items; the
    first pick carries an ALDEN reason with a heat map when ``heat``."""
    tokens = tokenize_texts(texts, pretokenized=False)
    vocab = Vocab.build(tokens)
    store.create(folder, ids=[f"t{i}" for i in range(len(texts))], texts=texts, classes=classes,
                 settings={"kind": "text", "seed": 0, "model": "cnn", "strategy": "alden",
                           "vocab": list(vocab.words), "tokenized": False})
    (folder / "encoding").mkdir()
    np.save(folder / "encoding" / "x.npy", vocab.encode(tokens))
    rng = np.random.default_rng(0)
    np.save(folder / "encoding" / "embeddings.npy",
            rng.normal(size=(len(vocab), 8)).astype(np.float32))
    if picks:
        reasons: list = [f"reason {i}" for i in range(picks)]
        if heat:
            words = tokens[0]
            reasons[0] = Reason("alden", 2.5, word=words[1], position=1, compared_word=words[1],
                                words=tuple(words),
                                interpretations=tuple(float(i + 1) for i in range(len(words))))
        conn = store.connect(folder)
        store.add_round(conn, strategy="alden", model="cnn", n_labeled=0,
                        picks=[store.Pick(i, 1.0, reasons[i], i % 2, 0.75)
                               for i in range(picks)], info={})
        conn.close()
    return folder


def sentences(n: int) -> list[str]:
    rng = np.random.default_rng(1)
    words = ["good", "bad", "film", "plot", "cast", "dull", "fine", "story", "long", "short"]
    return [" ".join(rng.choice(words, 6)) + "." for _ in range(n)]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([0-9a-f]+)"', html).group(1)


def start_server(folder: Path, *args: str, timeout: float = 60.0
                 ) -> tuple[subprocess.Popen, str]:
    """`alden serve` as a real process on 127.0.0.1 and a free port; (process, base URL)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "alden.cli", "serve", str(folder),
                             "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(r"serving .* at (http://\S+)", line)
        if found:
            return proc, found.group(1)
    proc.kill()
    raise RuntimeError("the server did not start:\n" + "".join(seen))
