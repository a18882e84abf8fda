"""Training speed next to the arithmetic floor, and the study behind TrainConfig's defaults.

    python benchmarks/bench_training.py speed [--threads 1,2] [--sizes 1000,3000]
    python benchmarks/bench_training.py schedule --dataset subj --model cnn --sizes 120,6000 \
        --lrs 0.001,0.002 --batch-sizes 50 --seeds 0,1 --epochs 20 --out curves.jsonl
    python benchmarks/bench_training.py simulate curves.jsonl
    python benchmarks/bench_training.py full --dataset subj --models cnn,bilstm --seeds 0,1,2

``speed`` prints seconds per epoch and items per second for TextCNN and BiLSTM on the Subj
pool and the MLP on MAGIC, at 1000 and 3000 labeled items, next to the floor: the epoch's
multiply-adds (counted from the shapes, real tokens only) at the GFLOP/s that a large
matmul reaches in this process at the same moment. Other jobs may share the cores, so
read the ratios, which are taken within one run.

``schedule`` trains with validation at every epoch and no early stopping, recording
validation and test accuracy per epoch; ``simulate`` then replays any early-stopping rule
on those curves exactly (training never depends on validation), giving its test accuracy
and cost without retraining. ``full`` trains with the default TrainConfig on the whole pool
and prints test accuracy and seconds. Needs $ALDEN_DATA (the shared data sets).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import statistics
import time

import numpy as np
import torch

from alden.data.datasets import load_dataset
from alden.data.prepare import prepare
from alden.models.contract import TrainConfig
from alden.models.learner import NetworkLearner, token_lengths

WIDTHS, MAPS, DIM, LSTM_HIDDEN, MLP_HIDDEN = (3, 4, 5), 100, 100, 100, (100, 100)


def matmul_gflops(size: int = 1024, repeats: int = 10) -> float:
    """What this process gets from a large float32 matmul now (best of ``repeats``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def forward_flops(model: str, x: np.ndarray, n_classes: int = 2) -> float:
    """Floating-point operations of one forward pass over ``x``, pads not counted."""
    if model == "mlp":
        sizes = [x.shape[1], *MLP_HIDDEN, n_classes]
        return len(x) * sum(2 * a * b for a, b in itertools.pairwise(sizes))
    lengths = token_lengths(x).astype(np.float64)
    if model == "cnn":
        windows = sum(w * np.maximum(lengths - w + 1, 1) for w in WIDTHS)
        return float((2 * DIM * MAPS * windows).sum()) + len(x) * 2 * MAPS * len(WIDTHS) * n_classes
    gates = 2 * 4 * LSTM_HIDDEN * (DIM + LSTM_HIDDEN)  # one step of one direction
    return float((2 * gates * np.maximum(lengths, 1)).sum()) + len(x) * 4 * LSTM_HIDDEN * n_classes


def training_flops(model: str, x: np.ndarray) -> float:
    """An epoch of training: forward plus backward (gradients of weights and inputs), 3x."""
    return 3 * forward_flops(model, x)


def load_pool(model: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """The pool's inputs and labels for ``model`` and the NetworkLearner's data arguments."""
    prepared = prepare(load_dataset("magic" if model == "mlp" else "subj", progress=False), seed)
    x, y = prepared.x[prepared.train_idx], prepared.y[prepared.train_idx]
    if model == "mlp":
        return x, y, {"n_features": x.shape[1]}
    return x, y, {"embeddings": prepared.embeddings}


def time_epochs(model: str, x: np.ndarray, y: np.ndarray, data: dict, threads: int,
                epochs: int = 3) -> float:
    """Seconds per training epoch (best of ``epochs``, after model construction)."""
    torch.set_num_threads(threads)
    times: list[float] = []
    learner = NetworkLearner(model, n_classes=2, config=TrainConfig(fixed_epochs=epochs), **data)
    learner.fit(x, y, seed=0, on_epoch=lambda _, record: times.append(record["train_seconds"]))
    return min(times)


class PlainKimCNN(torch.nn.Module):
    """The plain reference: Conv1d over whole padded rows, pads included, no masking."""

    def __init__(self, embeddings: np.ndarray) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding.from_pretrained(torch.from_numpy(embeddings),
                                                            freeze=False)
        self.convs = torch.nn.ModuleList(torch.nn.Conv1d(DIM, MAPS, w) for w in WIDTHS)
        self.head = torch.nn.Linear(MAPS * len(WIDTHS), 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.embedding(x).transpose(1, 2)
        pooled = torch.cat([torch.relu(conv(e)).amax(2) for conv in self.convs], 1)
        return self.head(torch.nn.functional.dropout(pooled, 0.5, self.training))


def time_plain_epoch(x: np.ndarray, y: np.ndarray, embeddings: np.ndarray) -> float:
    """Seconds of one epoch the plain way: random batches padded to the longest row of the
    whole pool, Conv1d, the default (unfused) Adam; after one warm-up epoch."""
    torch.manual_seed(0)
    model = PlainKimCNN(embeddings)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    seconds = math.inf
    for _ in range(2):
        started = time.perf_counter()
        for idx in np.array_split(rng.permutation(len(x)), math.ceil(len(x) / 50)):
            loss = torch.nn.functional.cross_entropy(model(xs[idx]), ys[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        seconds = min(seconds, time.perf_counter() - started)
    return seconds


def _timed_worker(args: tuple) -> float:
    model, x, y, data, threads = args
    return time_epochs(model, x, y, data, threads)


def speed(args: argparse.Namespace) -> None:
    """The speed table."""
    threads = [int(t) for t in args.threads.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads by default, "
          f"{multiprocessing.cpu_count()} CPUs")
    print(f"{'model':7} {'items':>6} {'threads':>7} {'s/epoch':>8} {'items/s':>8} "
          f"{'GFLOP':>7} {'GFLOP/s':>8} {'floor s':>8} {'ratio':>6}")
    for model in args.models.split(","):
        pool_x, pool_y, data = load_pool(model)
        for n, t in itertools.product(sizes, threads):
            x, y = pool_x[:n], pool_y[:n]
            torch.set_num_threads(t)
            rate = matmul_gflops()  # the machine's rate now, for this thread count
            seconds = time_epochs(model, x, y, data, t)
            flops = training_flops(model, x) / 1e9
            print(f"{model:7} {n:6d} {t:7d} {seconds:8.3f} {n / seconds:8.0f} {flops:7.2f} "
                  f"{rate:8.1f} {flops / rate:8.3f} {seconds / (flops / rate):6.1f}", flush=True)
        if model == "cnn":  # the gap this module closes, in the same run
            n = sizes[-1]
            for t in threads:
                torch.set_num_threads(t)
                plain = time_plain_epoch(pool_x[:n], pool_y[:n], data["embeddings"])
                print(f"{'plain':7} {n:6d} {t:7d} {plain:8.3f} {n / plain:8.0f}  (Conv1d on "
                      f"rows padded to {pool_x.shape[1]} tokens, random batches, plain Adam)",
                      flush=True)
        if args.parallel:  # two single-threaded fits at once: aggregate throughput
            n = sizes[-1]
            x, y = pool_x[:n], pool_y[:n]
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(2) as workers:
                workers.map(_timed_worker, [(model, x[:50], y[:50], data, 1)] * 2)  # warm up
                started = time.perf_counter()
                each = workers.map(_timed_worker, [(model, x, y, data, 1)] * 2)
                wall = time.perf_counter() - started
            print(f"{model:7} {n:6d} {'2 x 1':>7} {max(each):8.3f} {2 * n / max(each):8.0f}  "
                  f"(two processes at once; wall {wall:.1f}s for both fits)", flush=True)


def learning_curve(learner: NetworkLearner, x: np.ndarray, y: np.ndarray, val: tuple, test: tuple,
                   seed: int) -> list[dict]:
    """Fit with validation; each epoch's history record plus its test accuracy."""
    x_test, y_test = test
    curve: list[dict] = []

    def record_test(fitted: NetworkLearner, record: dict) -> None:
        started = time.perf_counter()
        proba = fitted.predict_proba(x_test)
        record["test_accuracy"] = float((proba.argmax(1) == y_test).mean())
        record["test_seconds"] = time.perf_counter() - started
        curve.append(dict(record))

    learner.fit(x, y, *val, seed=seed, on_epoch=record_test)
    return curve


def schedule(args: argparse.Namespace) -> None:
    """Per-epoch validation and test accuracy for a grid of (size, lr, batch, seed)."""
    torch.set_num_threads(args.threads)
    with open(args.out, "a", encoding="utf-8") as out:
        for seed in [int(s) for s in args.seeds.split(",")]:
            prepared = prepare(load_dataset(args.dataset, progress=False), seed)
            pool = prepared.train_idx
            x_val, y_val = prepared.val()
            x_test, y_test = prepared.test()
            data = ({"n_features": prepared.x.shape[1]} if args.model == "mlp"
                    else {"embeddings": prepared.embeddings})
            for n, lr, batch in itertools.product(
                    [int(s) for s in args.sizes.split(",")],
                    [float(v) for v in args.lrs.split(",")],
                    [int(b) for b in args.batch_sizes.split(",")]):
                # The protocol's labeled sets are stratified draws from the pool.
                rng = np.random.default_rng([seed, n])
                labeled = pool[rng.permutation(len(pool))[:n]]
                config = TrainConfig(lr=lr, batch_size=batch, max_epochs=args.epochs,
                                     patience=args.epochs, min_items_per_check=1)
                learner = NetworkLearner(args.model, n_classes=len(prepared.classes), config=config,
                                         **data)
                curve = learning_curve(learner, prepared.x[labeled], prepared.y[labeled],
                                       (x_val, y_val), (x_test, y_test), seed)
                row = {"dataset": args.dataset, "model": args.model, "n": n, "lr": lr,
                       "batch_size": batch, "seed": seed, "n_val": len(y_val), "curve": curve}
                out.write(json.dumps(row) + "\n")
                out.flush()
                best = max(curve, key=lambda r: (r["val_accuracy"], -r["val_loss"]))
                print(f"{args.dataset} {args.model} n={n} lr={lr} batch={batch} seed={seed}: "
                      f"best val {best['val_accuracy']:.4f} at epoch {best['epoch']} "
                      f"(test {best['test_accuracy']:.4f}); "
                      f"{statistics.mean(r['train_seconds'] for r in curve):.2f}s/epoch",
                      flush=True)


def full_pool(args: argparse.Namespace) -> None:
    """Default TrainConfig on the whole pool with early stopping: test accuracy and time."""
    torch.set_num_threads(args.threads)
    print(f"{'dataset':7} {'model':6} {'seed':>4} {'pool':>5} {'epochs':>6} {'train s':>8} "
          f"{'val s':>6} {'total s':>8} {'test acc':>8}")
    for seed in [int(s) for s in args.seeds.split(",")]:
        prepared = prepare(load_dataset(args.dataset, progress=False), seed)
        x, y = prepared.x[prepared.train_idx], prepared.y[prepared.train_idx]
        x_test, y_test = prepared.test()
        for model in args.models.split(","):
            learner = NetworkLearner(model, n_classes=len(prepared.classes),
                                     embeddings=prepared.embeddings)
            started = time.perf_counter()
            learner.fit(x, y, *prepared.val(), seed=seed)
            total = time.perf_counter() - started
            accuracy = float((learner.predict(x_test) == y_test).mean())
            history = learner.history
            print(f"{args.dataset:7} {model:6} {seed:4d} {len(y):5d} {len(history):6d} "
                  f"{sum(h['train_seconds'] for h in history):8.1f} "
                  f"{sum(h.get('val_seconds', 0.0) for h in history):6.1f} {total:8.1f} "
                  f"{accuracy:8.4f}", flush=True)


def replay(curve: list[dict], n: int, max_epochs: int, patience: int,
           min_items_per_check: int) -> tuple[float, int, int]:
    """Test accuracy, epochs trained and validation checks of one early-stopping rule.

    The same rule as NetworkLearner.fit: check every ceil(min_items_per_check / n) epochs and at
    the last; best by validation accuracy, ties to lower loss; stop after ``patience`` checks
    without improvement.
    """
    every = max(1, math.ceil(min_items_per_check / n))
    epochs = min(max_epochs, len(curve))
    best_key, best, since, checks = None, None, 0, 0
    for record in curve[:epochs]:
        if record["epoch"] % every and record["epoch"] != epochs:
            continue
        checks += 1
        key = (-record["val_accuracy"], record["val_loss"])
        if best_key is None or key < best_key:
            best_key, best, since = key, record, 0
        else:
            since += 1
        if since >= patience:
            return best["test_accuracy"], record["epoch"], checks
    return best["test_accuracy"], epochs, checks


def simulate(args: argparse.Namespace) -> None:
    """Per (model, lr, batch, rule): median test accuracy per (dataset, size) and the cost."""
    rows = [json.loads(line) for path in args.files for line in open(path, encoding="utf-8")]
    runs: dict[tuple, dict[tuple, list[dict]]] = {}
    for row in rows:
        setting = (row["model"], row["lr"], row["batch_size"])
        runs.setdefault(setting, {}).setdefault((row["dataset"], row["n"]), []).append(row)
    rules = [tuple(int(v) for v in r.split("/")) for r in args.rules.split(",")]
    print("rule = max_epochs/patience/min_items_per_check. Each cell: median test accuracy "
          "over seeds; cost: thousands of items trained plus items validated x "
          f"{args.val_cost} (an inference pass costs about that much), summed over the cells")
    for setting in sorted(runs):
        cells = sorted(runs[setting])
        print(f"\n{setting[0]} lr={setting[1]:g} batch={setting[2]}  "
              + "  ".join(f"{d}/{n}(x{len(runs[setting][d, n])})" for d, n in cells))
        for rule in rules:
            accuracies, cost = [], 0.0
            for cell in cells:
                results = [replay(run["curve"], cell[1], *rule) for run in runs[setting][cell]]
                accuracies.append(statistics.median(r[0] for r in results))
                epochs = statistics.mean(r[1] for r in results)
                checks = statistics.mean(r[2] for r in results)
                n_val = runs[setting][cell][0]["n_val"]
                cost += (epochs * cell[1] + checks * n_val * args.val_cost) / 1000
            print(f"  {'/'.join(map(str, rule)):>11}  "
                  + "  ".join(f"{a:.4f}" for a in accuracies) + f"  cost {cost:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("speed", help="seconds per epoch next to the arithmetic floor")
    p.add_argument("--models", default="cnn,bilstm,mlp")
    p.add_argument("--sizes", default="1000,3000")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--parallel", action="store_true", help="also two 1-thread fits at once")
    p.set_defaults(run=speed)
    p = commands.add_parser("schedule", help="per-epoch learning curves for a grid")
    p.add_argument("--dataset", default="subj")
    p.add_argument("--model", default="cnn")
    p.add_argument("--sizes", default="120,6000")
    p.add_argument("--lrs", default="0.001")
    p.add_argument("--batch-sizes", default="50")
    p.add_argument("--seeds", default="0")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    p.set_defaults(run=schedule)
    p = commands.add_parser("full", help="default training on the whole pool")
    p.add_argument("--dataset", default="subj")
    p.add_argument("--models", default="cnn,bilstm")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(run=full_pool)
    p = commands.add_parser("simulate", help="replay early-stopping rules on recorded curves")
    p.add_argument("files", nargs="+")
    p.add_argument("--rules", default="30/4/1000,20/3/1000,30/4/1,15/3/1000")
    p.add_argument("--val-cost", type=float, default=0.3)
    p.set_defaults(run=simulate)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
