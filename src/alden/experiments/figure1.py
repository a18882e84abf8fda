"""The paper's Figure 1: k-means on three representations of a synthetic two-feature set.

Section 2 of Liu et al. (CIKM 2021): x uniform in [-5, 5]^2, p(y = 1 | x) = sigmoid(x1 x2),
an MLP trained on it, and k-means (k = 4) on CORESET's last hidden layer, BADGE's gradient
embedding and the local interpretations (the input Jacobian, Eq. 1). The paper claims only
the interpretations recover the four triangles cut by x1 = x2 and x1 = -x2; the adjusted
Rand index of each clustering against those triangles measures how far that holds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from alden.atomic import replacing, write_atomic
from alden.cli_types import non_negative, whole
from alden.errors import AldenError

REPRESENTATIONS = ("coreset", "badge", "interpretations")
TITLES = {"coreset": "CORESET (last hidden layer)", "badge": "BADGE (gradient embedding)",
          "interpretations": "interpretations (input Jacobian)"}


def synthetic_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform in [-5, 5]^2 and labels drawn with p(y=1|x) = sigmoid(x1 x2)."""
    x = rng.uniform(-5.0, 5.0, size=(n, 2))
    p = 1.0 / (1.0 + np.exp(-x[:, 0] * x[:, 1]))
    return x.astype(np.float32), (rng.random(n) < p).astype(np.int64)


def triangle_regions(x: np.ndarray) -> np.ndarray:
    """Which of the four triangles cut by x1 = x2 and x1 = -x2 each point lies in (0..3)."""
    return 2 * (x[:, 0] > x[:, 1]).astype(np.int64) + (x[:, 0] > -x[:, 1]).astype(np.int64)


def figure1(seed: int = 0, output: str = "logits", n: int = 2000) -> dict:
    """Train the MLP, cluster the three representations; the points, labels and ARIs."""
    import torch
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from alden.models.learner import NetworkLearner

    if output not in ("proba", "logits"):
        raise AldenError(f"--output must be 'proba' or 'logits', got {output!r}")
    if n < 20:
        raise AldenError(f"need at least 20 points, got {n}")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    rng = np.random.default_rng(seed)
    x, y = synthetic_data(n, rng)
    n_val = n // 5
    learner = NetworkLearner("mlp", n_classes=2, n_features=2)
    learner.fit(x[n_val:], y[n_val:], x[:n_val], y[:n_val], seed=seed)
    representations = {
        "coreset": learner.hidden(x),
        "badge": learner.badge_embeddings(x),
        "interpretations": learner.input_jacobian(x, output=output),
    }
    regions = triangle_regions(x)
    clusters, ari = {}, {}
    for name, rep in representations.items():
        km = KMeans(n_clusters=4, n_init=10, random_state=seed)
        clusters[name] = km.fit_predict(np.asarray(rep, dtype=np.float64))
        ari[name] = float(adjusted_rand_score(regions, clusters[name]))
    accuracy = float((learner.predict(x[:n_val]) == y[:n_val]).mean())
    return {"x": x, "y": y, "clusters": clusters, "ari": ari, "seed": seed, "output": output,
            "n": n, "val_accuracy": accuracy}


def plot(result: dict, path: Path) -> None:
    """Four panels: the data by label, then each clustering, diagonals drawn, ARI in titles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = result["x"]
    fig, axes = plt.subplots(1, 4, figsize=(16, 5.2), layout="constrained")
    panels = [("(a) data: y = 1 orange, y = 0 blue", result["y"], ["tab:blue", "tab:orange"])]
    palette = ["tab:red", "tab:green", "tab:purple", "tab:olive"]
    for letter, name in zip("bcd", REPRESENTATIONS, strict=True):
        panels.append((f"({letter}) {TITLES[name]}\nARI {result['ari'][name]:.2f}",
                       result["clusters"][name], palette))
    for ax, (title, labels, colours) in zip(axes, panels, strict=True):
        ax.scatter(x[:, 0], x[:, 1], c=np.asarray(colours)[labels], s=4, linewidths=0)
        ax.plot([-5, 5], [-5, 5], "k--", lw=0.8)
        ax.plot([-5, 5], [5, -5], "k--", lw=0.8)
        ax.set(xlim=(-5, 5), ylim=(-5, 5), aspect="equal", title=title, xlabel="x1")
        ax.title.set_fontsize(10)
    axes[0].set_ylabel("x2")
    fig.suptitle(f"k-means (k = 4) on three representations of an MLP; p(y=1|x) = "
                 f"sigmoid(x1 x2); interpretations of the {result['output']}, "
                 f"seed {result['seed']}", fontsize=11)
    with replacing(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write(out_dir: str | Path, seed: int = 0, output: str = "logits",
          n: int = 2000) -> dict:
    """Compute Figure 1 and write ``figure1.png`` and ``figure1.json`` into ``out_dir``."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise AldenError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    result = figure1(seed=seed, output=output, n=n)
    plot(result, out / "figure1.png")
    record = {"ari": result["ari"], "seed": seed, "output": output, "n": n,
              "val_accuracy": result["val_accuracy"]}
    write_atomic(out / "figure1.json", json.dumps(record, indent=2) + "\n")
    return record


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """``alden figure1 [--out DIR] [--seed S] [--output proba|logits] [--n N]``."""
    p = subparsers.add_parser("figure1", help="reproduce the paper's Figure 1 and its ARIs",
                              description=__doc__.splitlines()[0])
    p.add_argument("--out", default="figure1", metavar="FOLDER",
                   help="output folder (default: ./figure1)")
    p.add_argument("--seed", type=non_negative, default=0, metavar="N",
                   help="data, training and k-means seed")
    p.add_argument("--output", choices=("proba", "logits"), default="logits",
                   help="differentiate the logits (default) or the class probabilities")
    p.add_argument("--n", type=whole(100), default=2000, metavar="N",
                   help="number of synthetic points, at least 100 (default 2000)")
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    record = write(args.out, seed=args.seed, output=args.output, n=args.n)
    for name in REPRESENTATIONS:
        print(f"ARI {name:16s} {record['ari'][name]:.3f}")
    print(f"wrote {Path(args.out) / 'figure1.png'} and {Path(args.out) / 'figure1.json'}")
    return 0
