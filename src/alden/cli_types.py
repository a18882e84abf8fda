"""Checked option types for every `alden` subcommand, and counts in words.

Each type turns an option's text into a value or fails with argparse's one-line usage error
("argument --folds: must be a whole number of at least 2, got 1"), before any work starts.
Use them as ``type=`` in ``add_argument``; ``plural`` writes "1 item", "2 items".
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path

from alden.data.files import DELIMITERS


def whole(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """A whole number in [minimum, maximum] (either bound may be open)."""
    if minimum is not None and maximum is not None:
        wanted = f"a whole number from {minimum} to {maximum}"
    elif minimum is not None:
        wanted = f"a whole number of at least {minimum}"
    elif maximum is not None:
        wanted = f"a whole number of at most {maximum}"
    else:
        wanted = "a whole number"

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {value}")
        return value

    parse.__name__ = "whole number"  # what argparse names in its own messages
    return parse


positive = whole(1)
non_negative = whole(0)
port = whole(1, 65535)


def fraction(*, zero: bool = False) -> Callable[[str], float]:
    """A number in (0, 1] (with ``zero``: [0, 1])."""
    wanted = "a number from 0 to 1" if zero else "a number above 0 and at most 1"

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}") from None
        if not math.isfinite(value) or value > 1 or value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text.strip()}")
        return value

    parse.__name__ = "fraction"
    return parse


def seed_list(text: str) -> list[int]:
    """Seeds like ``0,3,7``: whole numbers of at least 0, each once."""
    parts = text.replace(",", " ").split()
    try:
        seeds = [int(s) for s in parts]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,3,7 (whole numbers of at "
                                         f"least 0), got {text!r}")
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"each seed once, got {text!r}")
    return seeds


def delimiter(text: str) -> str:
    """A CSV delimiter: one character (``;``), or tab, comma, semicolon or pipe by name
    (``\\t`` too: a tab is hard to type on a command line)."""
    by_name = {name: char for char, name in DELIMITERS.items()} | {"\\t": "\t"}
    char = by_name.get(text.strip().lower(), text)
    if len(char) != 1 or char in "\"\r\n" or char.isalnum():
        raise argparse.ArgumentTypeError(f"expected one character such as ';' or a name "
                                         f"({', '.join(by_name)}), got {text!r}")
    return char


delimiter.__name__ = "delimiter"


def class_names(text: str) -> tuple[str, ...]:
    """Class names, given three ways: a file of one name per line, a JSON list
    (``["neg, mostly", "pos"]``), or names separated by commas (``neg,pos``). The first two
    hold names with commas; each name is stripped, and an empty or repeated one is refused."""
    path = Path(text)
    if text.lstrip().startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError as err:
            raise argparse.ArgumentTypeError(f"not a JSON list of names ({err.msg} at "
                                             f"character {err.colno}): {text!r}") from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise argparse.ArgumentTypeError(f"expected a JSON list of strings, got {text!r}")
    elif path.is_file():
        try:
            names = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise argparse.ArgumentTypeError(f"{path}: cannot read it ({err})") from None
        names = [n for n in names if n.strip()]  # blank lines (the last one) are no class
    else:
        names = text.split(",")
    names = [n.strip() for n in names]
    if not names or "" in names:
        raise argparse.ArgumentTypeError(f"a class name is empty in {text!r}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"class {repeated[0]!r} is named twice in {text!r}")
    return tuple(names)


class_names.__name__ = "class names"


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``n`` and the noun in the right number: "1 label", "2 labels", "1 query", "0 queries"."""
    if n == 1:
        return f"{n} {noun}"
    if many is None:
        many = noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" \
            else noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")
    return f"{n} {many}"


def add_data_options(parser: argparse.ArgumentParser, *,
                     label_help: str = "text: column holding the labels (default: label)"
                     ) -> None:
    """How a data file is read, the same for `alden init` and `alden benchmark`:
    --text-column, --label-column, --target-column, --id-column, --kind, --delimiter,
    --max-words."""
    from alden.data.text import MAX_WORDS

    group = parser.add_argument_group("reading the data file")
    group.add_argument("--text-column", metavar="COLUMN",
                       help="column holding the text (default: text)")
    group.add_argument("--label-column", metavar="COLUMN",
                       help=label_help)
    group.add_argument("--target-column", metavar="COLUMN",
                       help="table: column holding the labels (makes the file a table)")
    group.add_argument("--id-column", metavar="COLUMN",
                       help="column of ids (default: a column named id, else line numbers)")
    group.add_argument("--kind", choices=("text", "tabular"),
                       help="text or tabular (default: tabular with --target-column, else text)")
    group.add_argument("--delimiter", type=delimiter, default=None, metavar="CHAR",
                       help="CSV/TSV: the character between fields, e.g. ';' or tab (default: "
                       "detected among comma, semicolon, tab and pipe)")
    group.add_argument("--max-words", type=positive, default=None, metavar="N",
                       help=f"cut longer texts to their first N words (default {MAX_WORDS})")
