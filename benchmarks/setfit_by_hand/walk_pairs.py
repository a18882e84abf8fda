#!/usr/bin/env python
"""alden's fine-tune with the setfit library's way of pairing: every pair once, self pairs
included, same/different alternating (README.md)."""

import sys
import time

import numpy as np
import torch
from pooled import embed
from sklearn.linear_model import LogisticRegression

import alden.models.setfit_tune as st
from alden.data.prepare import seed_set
from alden.experiments.simulation import prepared_data
from alden.models.encoder import EncoderClassifier, load_encoder
from alden.streams import pairs_rng, seed_set_rng


def walk_pairs(y, n_pairs, rng):
    y = np.asarray(y)
    i, j = np.triu_indices(len(y), 0)
    perm = rng.permutation(len(i))
    i, j = i[perm], j[perm]
    same = y[i] == y[j]
    pos, neg = np.flatnonzero(same), np.flatnonzero(~same)
    half = (n_pairs + 1) // 2
    take_pos = pos[np.arange(half) % len(pos)]
    take_neg = neg[np.arange(n_pairs - half) % len(neg)]
    order = np.empty(n_pairs, dtype=np.int64)
    order[0::2] = take_pos
    order[1::2] = take_neg
    return i[order], j[order], same[order]


st.sample_pairs = walk_pairs
steps = int(sys.argv[1])
torch.set_num_threads(2)
p = prepared_data("mr", None, 0, (0.6, 0.2, 0.2), "minilm")
lab = seed_set(p.pool(), 0.02, seed_set_rng(0))
enc = load_encoder("minilm")
model = EncoderClassifier(enc, 2, 0.1)
x = p.x[p.train_idx]
yp = p.y[p.train_idx]
t = time.time()
st.finetune(model, enc, x[lab], yp[lab], st.TuneConfig(steps=steps), seed=0, rng=pairs_rng(0))
tt = time.time() - t
model.eval()




xl = embed(model, x[lab])
xt = embed(model, p.x[p.test_idx])
print(
    "walk pairs",
    steps,
    "steps: LR test",
    LogisticRegression(max_iter=2000).fit(xl, yp[lab]).score(xt, p.y[p.test_idx]),
    "tune s",
    round(tt),
)
