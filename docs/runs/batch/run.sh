#!/bin/sh
# Issue 24's measurements, in order of cost; each command resumes where it stopped.
# Run from the repository root: ALDEN_DATA=../shared/datasets sh docs/runs/batch/run.sh
set -e
CSV="${ALDEN_CACHE:-$HOME/.cache/alden/cache}/imbalanced/mr-pos20.csv"
[ -f "$CSV" ] || python benchmarks/imbalanced_mr.py
run() {
    OMP_NUM_THREADS=1 nice -n 10 python -m alden.cli benchmark --model minilm \
        --cold-start random --seed-list 0,1,2 --stop 0.2 --workers 1 --threads 1 --quiet "$@"
}
# (b) from the same cold start (random picks, the measured default), the AUC to 20%
run --dataset subj --dataset mr --strategy random --strategy margin \
    --strategy cluster_margin --out docs/runs/batch
# (c) class balance on MR cut to 20% positives (benchmarks/imbalanced_mr.py)
run --dataset "$CSV" --id-column id --strategy margin --strategy margin:balance=true \
    --out docs/runs/balance
# (b) ALDEN among margin's 500 most uncertain (about four batches)
run --dataset subj --dataset mr --strategy alden:candidates=500 --out docs/runs/batch
