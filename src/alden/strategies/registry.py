"""Strategies by name: the registry, options from a command line, one canonical spelling.

A plain dict from name to class; options are the dataclass's fields, so ``get_strategy``
checks names and converts command-line strings by the field's default type. Two options
belong to every strategy and are handled here once: ``balance=true`` wraps the strategy in
``batch.Balanced`` (an even share of the batch per predicted class), ``subpool=N`` (with
``subpool_neighbours`` and ``subpool_random``) in ``subpool.Subpool`` (candidates from the
labeled items' nearest neighbours), outside any ``Balanced``.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from alden.errors import AldenError
from alden.strategies.base import ANY, TABULAR, TEXT, Strategy, check_fits
from alden.strategies.batch import Balanced, ClusterMargin
from alden.strategies.interpretation import Alden, Dami, Egl, EglWord
from alden.strategies.representation import Badge, Coreset
from alden.strategies.subpool import NEIGHBOURS, RANDOM_SHARE, Subpool
from alden.strategies.uncertainty import Bald, Entropy, LeastConfidence, Margin, RandomStrategy

STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (
    RandomStrategy, Entropy, Margin, LeastConfidence, Bald, Coreset, Badge, EglWord, Egl,
    Alden, Dami, ClusterMargin)}
BALANCE = "balance"  # the option every strategy has: balance=true wraps it in Balanced
# ... and subpool=N wraps it in Subpool, with its two options (name: (field, type, default))
SUBPOOL = {"subpool": ("size", int, 0), "subpool_neighbours": ("neighbours", int, NEIGHBOURS),
           "subpool_random": ("random_share", float, RANDOM_SHARE)}
WRAPPERS = (BALANCE, *SUBPOOL)


def strategies_for(kind: str) -> list[str]:
    """Names of the strategies that work on a "text" or "tabular" pool."""
    if kind not in (TEXT, TABULAR):
        raise AldenError(f"kind must be 'text' or 'tabular', got {kind!r}")
    return [name for name, cls in STRATEGIES.items() if cls.data in (ANY, kind)]


def get_strategy(name: str, **options: Any) -> Strategy:
    """A strategy by registry name with its options, e.g. ``get_strategy("bald", samples=20)``.

    Options given as strings (from a command line) are converted to the option's type;
    ``balance=true`` (or True) wraps the strategy in ``Balanced``, ``subpool=N`` in
    ``Subpool``.
    """
    if set(SUBPOOL) & set(options):
        options = dict(options)
        given = {key: _number(name, key, options.pop(key)) for key in SUBPOOL if key in options}
        if "subpool" not in given:
            raise AldenError(f"strategy {name!r}: subpool options need subpool=N")
        inner = get_strategy(name, **options)
        return Subpool(inner, int(given["subpool"]),
                       int(given.get("subpool_neighbours", NEIGHBOURS)),
                       float(given.get("subpool_random", RANDOM_SHARE)))
    if BALANCE in options:
        options = dict(options)
        balance = _flag(name, options.pop(BALANCE))
        inner = get_strategy(name, **options)
        return Balanced(inner) if balance else inner
    if name not in STRATEGIES:
        raise AldenError(f"unknown strategy {name!r}; choose one of: "
                         f"{', '.join(sorted(STRATEGIES))}")
    cls = STRATEGIES[name]
    valid = {f.name: f for f in fields(cls)}
    unknown = sorted(set(options) - set(valid))
    if unknown:
        have = ", ".join(sorted([*valid, *WRAPPERS]))
        raise AldenError(f"strategy {name!r} has no option {unknown[0]!r}; its options: {have}")
    converted = {}
    for key, value in options.items():
        kind = type(valid[key].default)
        if isinstance(value, str) and kind in (int, float):
            try:
                value = kind(value)
            except ValueError:
                raise AldenError(f"strategy {name!r}: option {key!r} must be "
                                 f"{'an integer' if kind is int else 'a number'}, "
                                 f"got {value!r}") from None
        converted[key] = value
    return cls(**converted)


def _number(name: str, key: str, value: object) -> int | float:
    """A subpool option given as a number or as its text."""
    kind = SUBPOOL[key][1]
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)) or (
                kind is int and isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = kind(value)
    except ValueError:
        raise AldenError(f"strategy {name!r}: option {key!r} must be "
                         f"{'an integer' if kind is int else 'a number'}, got {value!r}") from None
    return number


def _flag(name: str, value: object) -> bool:
    """A true/false option given as a bool or as the text "true"/"false"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise AldenError(f"strategy {name!r}: option {BALANCE!r} must be true or false, "
                     f"got {value!r}")


def parse_strategy(spec: str) -> tuple[str, dict[str, str]]:
    """Split a command line's strategy, ``name`` or ``name:key=value,key=value``, into the
    name and its options (strings; ``get_strategy`` converts them)."""
    name, colon, rest = spec.partition(":")
    options: dict[str, str] = {}
    for part in rest.split(",") if colon else []:
        key, eq, value = part.partition("=")
        if not eq or not key or not value or key in options:
            raise AldenError(f"strategy {spec!r}: expected name:key=value[,key=value...], "
                             f"each key once; {part!r} is not key=value")
        options[key] = value
    return name, options


def strategy_from_spec(spec: str, kind: str | None = None) -> Strategy:
    """The strategy a command line names, options included, e.g. ``"alden:output=logits"``;
    with ``kind`` ("text" or "tabular"), refused here if it cannot work on that data."""
    name, options = parse_strategy(spec)
    try:
        strategy = get_strategy(name, **options)
    except AldenError as error:
        if str(error).startswith("strategy "):
            raise
        raise AldenError(f"strategy {spec!r}: {error}") from None
    if kind is not None:
        check_fits(innermost(strategy), kind)
    return strategy


def innermost(strategy: Strategy) -> Strategy:
    """The strategy inside any ``Subpool`` and ``Balanced`` wrappers."""
    while isinstance(strategy, (Subpool, Balanced)):
        strategy = strategy.inner
    return strategy


def with_subpool(spec: str, size: int | None) -> str:
    """``spec`` with ``subpool=size`` added (``--subpool N``'s one meaning: sugar for the
    option); ``spec`` itself when ``size`` is None."""
    if size is None:
        return spec
    name, options = parse_strategy(spec)
    options["subpool"] = str(size)
    return name + ":" + ",".join(f"{k}={v}" for k, v in options.items())


def canonical_strategy(spec: str) -> str:
    """One spelling per strategy: the name, then its non-default options sorted by key
    (``"bald:samples=10"``; ``"alden:output=proba"`` is ``"alden"``), so that results
    files never hold one strategy under two names."""
    return strategy_spec(strategy_from_spec(spec))


def strategy_spec(strategy: Strategy) -> str:
    """The canonical spelling (``canonical_strategy``) of a strategy object."""
    changed = []
    if isinstance(strategy, Subpool):
        changed += [(key, f"{key}={getattr(strategy, field)}")
                    for key, (field, _, default) in SUBPOOL.items()
                    if key == "subpool" or getattr(strategy, field) != default]
        strategy = strategy.inner
    if isinstance(strategy, Balanced):
        changed.append((BALANCE, f"{BALANCE}=true"))
        strategy = strategy.inner
    changed += [(f.name, f"{f.name}={getattr(strategy, f.name)}") for f in fields(strategy)
                if getattr(strategy, f.name) != f.default]
    options = [text for _, text in sorted(changed)]
    return strategy.name + (":" + ",".join(options) if options else "")
