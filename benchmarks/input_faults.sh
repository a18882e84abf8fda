#!/bin/bash
# The bad inputs of docs/reliability.md (Input) against a source tree: $1 = its src folder.
# Before the fix: git archive b4dacc1 src | tar -x -C /tmp/old && benchmarks/input_faults.sh /tmp/old/src
# After: benchmarks/input_faults.sh src (the outcome of each, one or two lines)
SRC=$(cd "$1" && pwd); W=$(mktemp -d); PY=${PYTHON:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python}
export PYTHONPATH=$SRC ALDEN_CACHE=$W/cache
A() { $PY -c "import sys; from alden.cli import main; sys.exit(main(sys.argv[1:]))" "$@"; }
cd $W
$PY - <<'P'
import csv, json, numpy as np
rng = np.random.default_rng(0)
texts = [f"the film was {('bad','good')[i%2]} number {i}" for i in range(40)]
with open("d.csv", "w", newline="") as f:
    csv.writer(f).writerows([["id","text"], *[[f"d{i}", t] for i, t in enumerate(texts)]])
big = " ".join(rng.choice(["good","film","dull","plot"], 210_000))
with open("big.csv", "w", newline="") as f:
    csv.writer(f).writerows([["text"], *[[t] for t in texts[:20]], [big]])
with open("empty.csv", "w", newline="") as f:
    csv.writer(f).writerows([["text"], *[[t] for t in texts[:20]], ["  "], *[[t] for t in texts[20:]]])
with open("long.jsonl", "w") as f:
    f.writelines(json.dumps({"text": t}) + "\n" for t in texts[:20] + [big])
with open("multi.csv", "w", newline="") as f:
    f.write('id,label,text\nd99,pos,"two\nlines"\nd2,neg,one,extra\n')
with open("sep.jsonl", "w") as f:
    f.write(json.dumps({"id": "d1", "label": "pos", "text": "a\u2028b"}, ensure_ascii=False) + "\n")
with open("labeled.csv", "w", newline="") as f:
    csv.writer(f).writerows([["id","body","sentiment"], *[[f"d{i}", t, ("neg","pos")[i%2]] for i, t in enumerate(texts)]])
with open("one.csv", "w", newline="") as f:
    csv.writer(f).writerows([["id","label"], ["d1","pos"]])
with open("twelve.csv", "w", newline="") as f:
    csv.writer(f).writerows([["id","label"], *[[f"d{i}", ("neg","pos")[i%2]] for i in range(2, 14)]])
with open("withtext.csv", "w", newline="") as f:
    csv.writer(f).writerows([["id","text","label"], *[[f"d{i}", t, ("neg","pos")[i%2]] for i, t in enumerate(texts)]])
P
echo "== 1 MB CSV cell (init)"; A init p1 --data big.csv 2>&1 | tail -1
echo "== empty text in one row (init)"; A init p2 --data empty.csv 2>&1 | tail -2
echo "== 1 MB text in JSON Lines (init)"; A init p3 --data long.jsonl --embedding-dim 8 2>&1 | tail -2; $PY -c "import numpy as np; x=np.load('p3/encoding/x.npy'); print('x.npy', x.shape, x.nbytes, 'bytes')"
echo "== status --folds 1"; A init p4 --data d.csv --id-column id --classes neg,pos >/dev/null 2>&1; A teach p4 twelve.csv > /dev/null 2>&1; A status p4 --folds 1 2>&1 | tail -1
echo "== status --folds 0"; A status p4 --folds 0 2>&1 | tail -1
echo "== teach: quoted cell over two lines, then a ragged row"; A teach p4 multi.csv 2>&1 | tail -3
echo "== teach: JSON Lines with U+2028 in a text"; A teach p4 sep.jsonl 2>&1 | tail -1
echo "== teach one label"; A teach p4 one.csv 2>&1 | tail -2
echo "== benchmark on a labeled file"; A benchmark --dataset labeled.csv --model cnn --strategy random --seeds 1 --out b1 --quiet 2>&1 | tail -1
A benchmark --dataset labeled.csv --model cnn --strategy random --seeds 1 --out b2 --quiet --text-column body 2>&1 | tail -1
A benchmark --dataset withtext.csv --model cnn --strategy random --seeds 1 --out b5 --quiet 2>&1 | tail -1
echo "== query --k 0"; A query p4 --k 0 2>&1 | tail -1
echo "== query --threads 0"; A query p4 --k 2 --threads 0 2>&1 | tail -1
echo "== benchmark --seeds 0 / --workers 0"; A benchmark --dataset wine --model mlp --strategy random --seeds 0 --out b3 --quiet 2>&1 | tail -1; A benchmark --dataset wine --model mlp --strategy random --seeds 1 --workers 0 --out b4 --quiet 2>&1 | tail -1
echo "== query on 300 items, one of them a 1 MB text, 40 labels: peak memory (and without it)"
$PY - <<'P'
import csv, json
import numpy as np
rng = np.random.default_rng(0)
texts = [f"the film was {('bad','good')[i%2]} and {('dull','great')[i%2]} number {i}" for i in range(300)]
short = list(texts)
texts[7] = " ".join(rng.choice(["good", "film", "dull", "plot"], 210_000))
for name, items in (("q_long.jsonl", texts), ("q_short.jsonl", short)):
    with open(name, "w") as f:
        f.writelines(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(items))
with open("q_labels.csv", "w", newline="") as f:
    csv.writer(f).writerows([["id", "label"], *[[f"d{i}", ("neg", "pos")[i % 2]] for i in range(40)]])
P
for kind in long short; do
  A init q_$kind --data q_$kind.jsonl --id-column id > /dev/null 2>&1; A teach q_$kind q_labels.csv > /dev/null 2>&1
  /usr/bin/time -v $PY -c "import sys; from alden.cli import main; sys.exit(main(sys.argv[1:]))" query q_$kind --k 10 --threads 1 2>&1 | grep -E "^error|Traceback|Error:|Maximum resident" | sed "s/^/$kind: /"
done
echo "== init --help"; A init --help 2>&1 | grep -c "label_column"
echo "== --version"; A --version 2>&1 | tail -1
rm -rf $W
