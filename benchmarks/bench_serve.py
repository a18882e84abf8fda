"""Load on `alden serve`: concurrent clients label a batch over HTTP against a real uvicorn
server on 127.0.0.1; labels per second, latency percentiles, and a check that no label is
lost or counted twice (every ``--retry-every``-th request is sent a second time with the same
client id, as a browser retrying after a lost answer would).

    .venv/bin/python benchmarks/bench_serve.py                 # 8 clients, 2,000 items
    .venv/bin/python benchmarks/bench_serve.py --clients 2 --items 200

Bounded: each client sends a fixed number of requests, each with a timeout, and the whole run
stops at ``--deadline`` seconds; the server is stopped at the end whatever happened.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from alden.data.text import Vocab, tokenize_texts
from alden.project import store

WORDS = ["good", "bad", "film", "plot", "cast", "dull", "fine", "story", "long", "short"]


def make_project(folder: Path, n: int) -> None:
    """``n`` short texts, classes neg/pos, one round picking all of them (no word2vec)."""
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, 12)) + "." for _ in range(n)]
    tokens = tokenize_texts(texts, pretokenized=False)
    vocab = Vocab.build(tokens)
    store.create(folder, ids=[f"t{i}" for i in range(n)], texts=texts, classes=("neg", "pos"),
                 settings={"kind": "text", "seed": 0, "model": "cnn", "strategy": "alden",
                           "vocab": list(vocab.words), "tokenized": False})
    (folder / "encoding").mkdir()
    np.save(folder / "encoding" / "x.npy", vocab.encode(tokens))
    np.save(folder / "encoding" / "embeddings.npy",
            rng.normal(size=(len(vocab), 8)).astype(np.float32))
    conn = store.connect(folder)
    store.add_round(conn, strategy="cold-start", model="cnn", n_labeled=0,
                    picks=[store.Pick(i, 1.0, None, None, None) for i in range(n)], info={})
    conn.close()


def serve(folder: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "alden.cli", "serve", str(folder), "--port",
                             "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for _ in range(50):
        line = proc.stdout.readline()
        found = re.search(r"serving .* at (http://\S+)", line)
        if found:
            return proc, found.group(1)
        if not line:
            break
    proc.kill()
    raise SystemExit("the server did not start")


def client(url: str, number: int, items: list[int], retry_every: int, deadline: float,
           latencies: list[float], errors: list[str], sent: list[int]) -> None:
    """One annotator labeling its share: item -> class item % 2."""
    with httpx.Client(base_url=url, timeout=30) as http:
        page = http.get("/").text
        headers = {"X-CSRF-Token": re.search(r'name="csrf-token" content="(\w+)"',
                                             page).group(1)}
        http.post("/api/annotator", json={"name": f"client{number}"}, headers=headers)
        for n, item in enumerate(items):
            if time.monotonic() > deadline:
                errors.append(f"client {number}: deadline reached at item {n}")
                return
            body = {"item": item, "label": item % 2, "client_id": f"c{number:02d}-{item:08d}"}
            for _ in range(2 if retry_every and n % retry_every == 0 else 1):
                start = time.perf_counter()
                try:
                    r = http.post("/api/label", json=body, headers=headers)
                except httpx.HTTPError as err:
                    errors.append(f"client {number}, item {item}: {err!r}")
                    continue
                latencies.append(time.perf_counter() - start)
                sent.append(1)
                if r.status_code != 200:
                    errors.append(f"client {number}, item {item}: HTTP {r.status_code} {r.text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--retry-every", type=int, default=25,
                        help="send every N-th label twice with the same client id (0: never)")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds, whole run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(tmp) / "p"
        make_project(folder, args.items)
        proc, url = serve(folder)
        latencies: list[float] = []
        errors: list[str] = []
        sent: list[int] = []
        shares = [list(range(c, args.items, args.clients)) for c in range(args.clients)]
        deadline = time.monotonic() + args.deadline
        threads = [threading.Thread(target=client, args=(url, c, share, args.retry_every,
                                                         deadline, latencies, errors, sent))
                   for c, share in enumerate(shares)]
        start = time.perf_counter()
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=args.deadline + 60)
            wall = time.perf_counter() - start
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            proc.stdout.close()
        conn = store.connect(folder)
        got = store.labels(conn).as_dict()
        events = conn.execute("SELECT COUNT(*) FROM label_events").fetchone()[0]
        answers = conn.execute("SELECT COUNT(*) FROM annotations").fetchone()[0]
        ok = store.integrity_check(conn)
        conn.close()
    lost = [i for i in range(args.items) if got.get(i) != i % 2]
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    print(f"alden serve on 127.0.0.1: {args.clients} concurrent clients, {args.items} items, "
          f"every {args.retry_every}th label sent twice (same client id)")
    print("| requests | labels stored | wall s | labels/s | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {len(sent)} | {len(got)} | {wall:.1f} | {len(got) / wall:.1f} | "
          f"{q[49] * 1000:.1f} | {q[94] * 1000:.1f} | {max(latencies) * 1000:.1f} |")
    print(f"lost or wrong labels: {len(lost)}; label events: {events} (one per label: "
          f"{'yes' if events == len(got) else 'NO'}); annotations: {answers}; "
          f"integrity: {ok}; request errors: {len(errors)}")
    for line in errors[:10]:
        print(f"  {line}")
    if lost or events != args.items or errors or ok != "ok":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
