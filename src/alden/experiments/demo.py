"""`alden demo`: a short, real comparison of strategies on Subj that writes a plot and a table.

Subj with TextCNN; random, entropy (uncertainty), CORESET and ALDEN; 2 seeds; 2% seed set,
+2% per round, up to 20% of the pool labeled (10 rounds); at most 15 epochs per training
(benchmarks/bench_demo.py: within a point of 30 epochs' accuracy); two worker processes.
The paper's protocol cut at 20%; docs/protocol.md has the measured wall time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from alden.cli_types import positive
from alden.experiments.benchmark import check_names, make_grid, run_benchmark
from alden.experiments.report import write_report
from alden.experiments.run_files import RESULTS
from alden.experiments.simulation import Protocol

DATASET = "subj"
MODEL = "cnn"
STRATEGIES = ("random", "entropy", "coreset", "alden")
SEEDS = (0, 1)
PROTOCOL = Protocol(init=0.02, step=0.02, stop=0.2, train=(("max_epochs", 15),))


def run_demo(out: str | Path, *, data_dir: str | None = None, workers: int = 2,
             threads: int | None = None, quiet: bool = False) -> dict[str, Path]:
    """Run the demo grid into ``out`` (resuming what is there) and write its report."""
    out = Path(out)
    say = (lambda *a: None) if quiet else print
    check_names([DATASET], [MODEL], STRATEGIES, data_dir)
    specs = make_grid([DATASET], [MODEL], STRATEGIES, SEEDS, PROTOCOL, data_dir)
    split = "/".join(f"{f:.0%}" for f in PROTOCOL.split)
    say(f"alden demo: active learning on {DATASET} (pool/validation/test {split}) with "
        f"model {MODEL}.\nStrategies {', '.join(STRATEGIES)}; seeds "
        f"{', '.join(map(str, SEEDS))}; labeled from {PROTOCOL.init:.0%} of the pool, "
        f"+{PROTOCOL.step:.0%} per round, to {PROTOCOL.stop:.0%}. A new model is trained "
        f"every round (at most {dict(PROTOCOL.train)['max_epochs']} epochs); {workers} worker "
        f"process(es).\nResults go to {out / RESULTS} as each run ends; run the same command "
        f"again to resume.")
    start = time.perf_counter()
    counts = run_benchmark(specs, out, workers=workers, threads=threads, quiet=quiet)
    say(f"{counts['ran']} runs in {time.perf_counter() - start:.0f} s "
        f"({counts['skipped']} were done already). Writing the report...")
    files, table_md = write_report(out)
    say("\nNormalised area under the learning curve (mean test accuracy over the labeled "
        "range), median over seeds:\n")
    say(table_md)
    for name, path in files.items():
        say(f"{name}: {path}")
    return files


def _demo_command(args: argparse.Namespace) -> int:
    run_demo(args.out, data_dir=args.data_dir, workers=args.workers, quiet=args.quiet)
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``alden demo``."""
    p = subparsers.add_parser(
        "demo", help="a 10-minute comparison of strategies on Subj, with plot and table",
        description=__doc__.splitlines()[2].strip() if __doc__ else None)
    p.add_argument("--out", default="runs/demo", metavar="FOLDER",
                   help="output folder (default runs/demo)")
    p.add_argument("--workers", type=positive, default=2, metavar="N",
                   help="local worker processes (default 2)")
    p.add_argument("--data-dir", default=None, metavar="FOLDER",
                   help="where the data sets are (else $ALDEN_DATA)")
    p.add_argument("--quiet", action="store_true", help="print nothing, show no progress")
    p.set_defaults(func=_demo_command)
