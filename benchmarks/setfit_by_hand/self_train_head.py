#!/usr/bin/env python
"""Logistic-regression head and head-only self-training on saved embeddings (README.md)."""
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

d = np.load(sys.argv[1])
P, T, yp, yt, lab = d["pool"], d["test"], d["ypool"], d["ytest"], d["lab"]


def lr(X, y, w=None):
    return LogisticRegression(max_iter=2000).fit(X, y, sample_weight=w)


base = lr(P[lab], yp[lab])
print("LR head", round(base.score(T, yt), 4))
unl = np.setdiff1d(np.arange(len(P)), lab)
C = len(np.unique(yp))
for share in (0.05, 0.1, 0.2, 0.4):
    for rounds in (1, 3):
        m = base
        for _ in range(rounds):
            pr = m.predict_proba(P[unl])
            pl = pr.argmax(1)
            conf = pr.max(1)
            per = int(share * len(unl) / C)
            pick = []
            for c in range(C):
                idx = np.where(pl == c)[0]
                pick.extend(idx[np.argsort(-conf[idx])[:per]])
            pick = np.array(pick)
            X = np.vstack([P[lab], P[unl][pick]])
            y = np.concatenate([yp[lab], pl[pick]])
            m = lr(X, y)
        prec = (pl[pick] == yp[unl][pick]).mean()
        print(
            f"self-train share {share} rounds {rounds}: test {m.score(T, yt):.4f} "
            f"pseudo precision {prec:.3f}"
        )
