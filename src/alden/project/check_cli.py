"""`alden check PROJECT --n N`: set aside N items drawn at random to measure accuracy, and
the lines `alden init --check N` and `alden status` print about it (``alden.project.check``)."""

from __future__ import annotations

import argparse

from alden.project.check import CheckResult, add_check


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def check_lines(result: CheckResult, project: str) -> list[str]:
    """What `check` (and `init --check`) print: what was set aside, what to label next."""
    items = f"{result.added} item{'' if result.added == 1 else 's'}"
    lines = [f"check set: {items} drawn at random and set aside "
             f"(never trained on, never picked), {result.total} in all; "
             f"{result.labeled} of them labeled already"]
    if result.moved:
        lines.append(f"moved {result.moved} training label{'' if result.moved == 1 else 's'} "
                     f"into the check set: models now train on {result.training} labels "
                     f"instead of {result.training + result.moved}")
    if result.files:
        lines.append(f"label them like any batch (round {result.round}): {result.files[0]}")
        lines.append(f"then: alden teach {project} {result.files[0]}; alden status {project}")
    return lines


def cmd_check(args: argparse.Namespace) -> int:
    """`alden check`: add N random items to the project's check set."""
    for line in check_lines(add_check(args.project, args.n), args.project):
        print(line)
    return 0


def register_check_cli(sub: argparse._SubParsersAction) -> None:
    """Add `alden check` to the `alden` command."""
    p = sub.add_parser("check", help="set aside random items to measure accuracy without bias",
                       description="Draw N items at random from the project, never to be "
                                   "trained on or picked: `alden status` reports the model's "
                                   "accuracy on those labeled, with a 95% interval. Items "
                                   "labeled already count at once; the others are written "
                                   "as a batch to label.")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--n", type=positive, required=True, metavar="N",
                   help="how many more items to set aside (e.g. 200)")
    p.set_defaults(func=cmd_check)
