#!/usr/bin/env python
"""Fine-tune MiniLM as alden does (setfit_tune) on a seed set; save the pool's and test
split's pooled embeddings for head experiments (README.md)."""

import sys
import time

import numpy as np
import torch
from pooled import embed

from alden.data.prepare import seed_set
from alden.experiments.simulation import prepared_data
from alden.models.encoder import EncoderClassifier, load_encoder
from alden.models.setfit_tune import TuneConfig, finetune
from alden.streams import pairs_rng, seed_set_rng

ds, seed, steps, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(2)
p = prepared_data(ds, None, seed, (0.6, 0.2, 0.2), "minilm")
lab = seed_set(p.pool(), 0.02, seed_set_rng(seed))
enc = load_encoder("minilm")
n_classes = len(p.classes)
model = EncoderClassifier(enc, n_classes, 0.1)
t = time.time()
x = p.x[p.train_idx]
if steps:
    finetune(
        model,
        enc,
        x[lab],
        p.y[p.train_idx][lab],
        TuneConfig(steps=steps),
        seed=seed,
        rng=pairs_rng(seed),
    )
tt = time.time() - t
model.eval()




xp = embed(model, x)
xt = embed(model, p.x[p.test_idx])
np.savez(
    out,
    pool=xp,
    test=xt,
    ypool=p.y[p.train_idx],
    ytest=p.y[p.test_idx],
    lab=lab,
    tune_s=tt,
    enc_s=time.time() - t - tt,
)
print(out, "tune s", round(tt), "encode s", round(time.time() - t - tt))
