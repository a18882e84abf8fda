"""Every numeric option checked before any work, help in the CLI's words, counts in words,
`alden --version`, and the default number of threads (issue 14)."""

from __future__ import annotations

import argparse
import re

import pytest

from alden.cli import build_parser, main
from alden.cli_types import fraction, plural, port, positive, seed_list, whole
from alden.threads import free_cores

BAD_OPTIONS = [
    (["status", "P", "--folds", "0"], "--folds: must be a whole number of at least 2, got 0"),
    (["status", "P", "--folds", "1"], "--folds: must be a whole number of at least 2, got 1"),
    (["status", "P", "--threads", "0"], "--threads: must be a whole number of at least 1"),
    (["query", "P", "--k", "0"], "--k: must be a whole number of at least 1, got 0"),
    (["query", "P", "--k", "ten"], "--k: must be a whole number of at least 1, got 'ten'"),
    (["query", "P", "--k", "3", "--threads", "-2"], "--threads: must be a whole number"),
    (["predict", "P", "--data", "f.csv", "--threads", "0"], "--threads: must be a whole"),
    (["label", "P", "--batch", "0"], "--batch: must be a whole number of at least 1"),
    (["init", "P", "--data", "f.csv", "--max-words", "0"], "--max-words: must be a whole"),
    (["init", "P", "--data", "f.csv", "--seed", "-1"], "--seed: must be a whole number of at "
                                                       "least 0"),
    (["init", "P", "--data", "f.csv", "--embedding-dim", "0"], "--embedding-dim: must be"),
    (["benchmark", "--out", "o", "--init", "0"], "--init: must be a number above 0 and at "
                                                 "most 1, got 0"),
    (["benchmark", "--out", "o", "--step", "-0.1"], "--step: must be a number above 0"),
    (["benchmark", "--out", "o", "--stop", "1.5"], "--stop: must be a number above 0 and at "
                                                   "most 1, got 1.5"),
    (["benchmark", "--out", "o", "--stop", "nan"], "--stop: must be a number above 0"),
    (["benchmark", "--out", "o", "--seeds", "0"], "--seeds: must be a whole number of at "
                                                  "least 1"),
    (["benchmark", "--out", "o", "--seed-list", "1,-2"], "--seed-list: expected seeds like"),
    (["benchmark", "--out", "o", "--seed-list", "1,1"], "--seed-list: each seed once"),
    (["benchmark", "--out", "o", "--workers", "0"], "--workers: must be a whole number of at "
                                                    "least 1"),
    (["benchmark", "--out", "o", "--threads", "0"], "--threads: must be a whole number"),
    (["benchmark", "--out", "o", "--max-epochs", "0"], "--max-epochs: must be a whole number"),
    (["benchmark", "--out", "o", "--max-words", "0"], "--max-words: must be a whole number"),
    (["demo", "--workers", "0"], "--workers: must be a whole number of at least 1"),
    (["figure1", "--n", "5"], "--n: must be a whole number of at least 100, got 5"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_OPTIONS, ids=[" ".join(a) for a, _ in
                                                                 BAD_OPTIONS])
def test_a_bad_number_is_a_usage_error_naming_the_option(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_status_folds_of_one_never_reaches_scikit_learn(tmp_path, capsys):
    """`status --folds 1` was a scikit-learn traceback; now the parser refuses it."""
    with pytest.raises(SystemExit):
        main(["status", str(tmp_path / "nowhere"), "--folds", "1"])
    err = capsys.readouterr().err
    assert "n_splits" not in err and "ValueError" not in err


def test_the_types_themselves():
    assert positive("3") == 3 and whole(2)(" 7 ") == 7 and port("8080") == 8080
    for bad in ("0", "65536", "80.5", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            port(bad)
    assert fraction()("1") == 1.0 and fraction(zero=True)("0") == 0.0
    for bad in ("0", "1.01", "-1", "inf", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            fraction()(bad)
    assert seed_list("0, 3 7") == [0, 3, 7]


def test_counts_are_written_in_words():
    assert plural(1, "item") == "1 item" and plural(2, "item") == "2 items"
    assert plural(0, "label") == "0 labels" and plural(1, "label") == "1 label"
    assert plural(1, "query") == "1 query" and plural(3, "query") == "3 queries"
    assert plural(2, "day") == "2 days" and plural(2, "box") == "2 boxes"
    assert plural(2, "bad row") == "2 bad rows"


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_help_is_in_the_cli_words_not_python_names():
    commands = subparsers()
    assert {"init", "query", "teach", "label", "status", "predict", "benchmark", "demo",
            "report", "figure1"} <= set(commands)
    for name, parser in commands.items():
        text = parser.format_help()
        assert "``" not in text, name
        for action in parser._actions:  # no metavar made from a Python name (TEXT_COLUMN)
            if action.option_strings and action.nargs != 0 and action.choices is None:
                assert action.metavar is not None, (name, action.option_strings)
        python_names = re.findall(r"\b[a-z]+_[a-z_]+\b", text)
        python_names = [n for n in python_names  # a strategy's name, environment variables
                        if n not in ("egl_word", "integrity_check")]
        assert not python_names, (name, python_names)
    init = commands["init"].format_help()
    assert "--label-column COLUMN" in init and "--max-words N" in init and "--strict" in init


def test_benchmark_takes_the_data_options_of_init():
    text = subparsers()["benchmark"].format_help()
    for option in ("--text-column", "--label-column", "--target-column", "--id-column",
                   "--kind", "--max-words"):
        assert option in text


def test_version_comes_from_the_package_metadata(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"alden {version('alden')}"


def test_threads_default_to_the_free_cores():
    assert free_cores(load=0.0, cores=8) == 8  # idle: every core
    assert free_cores(load=3.2, cores=8) == 5
    assert free_cores(load=7.6, cores=8) == 1  # busy: one thread
    assert free_cores(load=40.0, cores=2) == 1
    assert 1 <= free_cores() <= (__import__("os").cpu_count() or 1)


def test_ray_address_without_ray_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    assert main(["query", str(tmp_path), "--k", "3", "--ray-address", "local"]) == 2
    assert "--ray-address needs Ray: pip install 'alden[ray]'" in capsys.readouterr().err
