"""An imbalanced MR for the class-balance measurement (issue 24): every negative review and
a seeded fifth as many positives, so positives are 20% of the set, written as a CSV
(id,text,label) that ``alden benchmark --dataset FILE`` reads.

The rule: MR as alden loads it (``load_dataset("mr")``); ``numpy.random.default_rng(0)``
chooses round(n_neg / 4) of the positives without replacement; the rows keep MR's order
(ids ``mr:<position in MR>``). The file goes under alden's cache folder (``$ALDEN_CACHE``,
else ``~/.cache/alden/cache``) as ``imbalanced/mr-pos20.csv``; its path is printed.

    ALDEN_DATA=../shared/datasets .venv/bin/python benchmarks/imbalanced_mr.py
"""

from __future__ import annotations

import csv
import os
import tempfile

import numpy as np


def main() -> None:
    from alden.data.datasets import load_dataset
    from alden.data.text import cache_dir

    mr = load_dataset("mr")
    labels = np.asarray(mr.labels)
    pos = mr.label_names.index("positive")
    positives = np.flatnonzero(labels == pos)
    negatives = np.flatnonzero(labels != pos)
    chosen = np.random.default_rng(0).choice(positives, size=round(len(negatives) / 4),
                                             replace=False)
    rows = np.sort(np.concatenate([negatives, chosen]))
    path = cache_dir() / "imbalanced" / "mr-pos20.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".csv", dir=path.parent)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        for i in rows:
            writer.writerow([f"mr:{i}", mr.texts[i], mr.label_names[labels[i]]])
    os.replace(tmp, path)
    print(f"{path}: {len(rows)} rows, {len(chosen)} pos ({len(chosen) / len(rows):.1%}), "
          f"{len(negatives)} neg")


if __name__ == "__main__":
    main()
