#!/usr/bin/env python
"""HAST-like by hand: pseudo-label the pool's surest items with the first SetFit model, then
fine-tune MiniLM again on labels + pseudo-labels (README.md)."""

import sys
import time

import numpy as np
import torch
from pooled import embed
from sklearn.linear_model import LogisticRegression

from alden.experiments.simulation import prepared_data
from alden.models.encoder import EncoderClassifier, load_encoder
from alden.models.setfit_tune import TuneConfig, finetune
from alden.streams import pairs_rng

first, share, steps, out, start = (
    sys.argv[1],
    float(sys.argv[2]),
    int(sys.argv[3]),
    sys.argv[4],
    sys.argv[5],
)
torch.set_num_threads(2)
d = np.load(first)
P, yp, lab = d["pool"], d["ypool"], d["lab"]
p = prepared_data("mr", None, 0, (0.6, 0.2, 0.2), "minilm")
m = LogisticRegression(max_iter=2000).fit(P[lab], yp[lab])
unl = np.setdiff1d(np.arange(len(P)), lab)
pr = m.predict_proba(P[unl])
pl = pr.argmax(1)
conf = pr.max(1)
per = int(share * len(unl) / 2)
pick = np.concatenate([np.where(pl == c)[0][np.argsort(-conf[pl == c])[:per]] for c in range(2)])
print("pseudo", len(pick), "precision", (pl[pick] == yp[unl][pick]).mean())
enc = load_encoder("minilm")
model = EncoderClassifier(enc, 2, 0.1)
x = p.x[p.train_idx]
X = np.concatenate([x[lab], x[unl][pick]])
Y = np.concatenate([yp[lab], pl[pick]])
t = time.time()
finetune(model, enc, X, Y, TuneConfig(steps=steps), seed=0, rng=pairs_rng(0))
print("tune s", time.time() - t)
model.eval()




xp = embed(model, x)
xt = embed(model, p.x[p.test_idx])
yt = p.y[p.test_idx]
print("LR labeled only", LogisticRegression(max_iter=2000).fit(xp[lab], yp[lab]).score(xt, yt))
print(
    "LR labeled+pseudo",
    LogisticRegression(max_iter=2000).fit(np.vstack([xp[lab], xp[unl][pick]]), Y).score(xt, yt),
)
np.savez(out, pool=xp, test=xt, ypool=yp, ytest=yt, lab=lab)
