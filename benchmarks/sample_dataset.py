"""Write a fixed random sample of a built-in text data set as a CSV (text,label), for runs
that cannot afford the whole set on this machine (the encoder's gradient strategies).

    ALDEN_DATA=../shared/datasets .venv/bin/python benchmarks/sample_dataset.py \
        --dataset subj --n 3000 --seed 0 --out runs/subj3000.csv
"""

from __future__ import annotations

import argparse
import csv

import numpy as np

from alden.data.datasets import load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="subj")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    picked = np.sort(np.random.default_rng(args.seed).choice(len(data), args.n, replace=False))
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in picked:
            writer.writerow([data.texts[i], data.label_names[data.labels[i]]])
    print(f"{args.out}: {args.n} of {len(data)} items of {args.dataset} (seed {args.seed})")


if __name__ == "__main__":
    main()
