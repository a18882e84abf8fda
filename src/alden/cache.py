"""alden's cache folder (``$ALDEN_CACHE``, else ``~/.cache/alden/cache``): what each folder in
it holds and its size, and clearing them: ``alden cache [--clear [--what W]]``. Everything
in it is made again when needed; downloaded encoders are only cleared when named."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from alden.atomic import size_text
from alden.cli_types import plural
from alden.data.text import cache_dir
from alden.models import feature_store

WHAT = {"word2vec": "word2vec vectors, one entry per corpus and settings",
        "encoder-features": "pooled encoder embeddings, one store per encoder",
        "encoders": "downloaded sentence encoders"}
KEPT = ("encoders",)  # what --what all leaves: downloads, not made again offline


def folder_size(path: Path) -> int:
    """Bytes of the files under ``path`` (links not followed)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def describe(root: Path) -> list[str]:
    """Lines naming each folder under ``root``, its size and entries (encoder features: each
    encoder's store and its items)."""
    lines = [f"alden's cache: {root}"]
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not folders:
        return [*lines, "  empty"]
    for folder in folders:
        size = size_text(folder_size(folder))
        if folder.name != feature_store.FOLDER:
            entries = plural(sum(1 for _ in folder.iterdir()), "entry")
            what = WHAT.get(folder.name, "other derived files, e.g. the benchmarks'")
            lines.append(f"  {folder.name}: {size}, {entries} ({what})")
            continue
        found = feature_store.summary(folder)
        limit = size_text(feature_store.max_bytes())
        lines.append(f"  {folder.name}: {size}, {plural(sum(n for _, n, _ in found), 'item')}"
                     f" of {plural(len(found), 'encoder')} (at most {limit}: "
                     f"ALDEN_CACHE_MAX_MB)")
        lines += [f"    {what}: {plural(n, 'item')}, {size_text(b)}" for what, n, b in found]
        if old := list(folder.glob("*.npy")):
            lines.append(f"    {plural(len(old), 'file')} of an earlier version (removed on "
                         f"the next use)")
    return lines


def clear(root: Path, what: str) -> list[str]:
    """Delete the folder ``what`` names, or with ``all`` every folder but ``KEPT``; a line
    each for what went."""
    lines = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.is_dir() and (folder.name == what or (what == "all" and folder.name not in KEPT)):
            size = folder_size(folder)
            shutil.rmtree(folder)
            lines.append(f"removed {folder} ({size_text(size)})")
    return lines or [f"nothing to remove under {root}"]


def _cache_command(args: argparse.Namespace) -> int:
    root = cache_dir()
    lines = clear(root, args.what) if args.clear else describe(root)
    print("\n".join(lines))
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``alden cache``."""
    p = subparsers.add_parser(
        "cache", help="show or clear alden's cache of derived files",
        description="Show each folder in alden's cache ($ALDEN_CACHE, else "
                    "~/.cache/alden/cache) with its size and entries, or clear them. "
                    "Encoder features keep each item's embedding once, at most "
                    "$ALDEN_CACHE_MAX_MB megabytes (default 2048; the least recently used "
                    "go first).")
    p.add_argument("--clear", action="store_true", help="delete what --what names")
    p.add_argument("--what", choices=[*WHAT, "all"], default="all",
                   help="what --clear deletes (default all: every folder but the downloaded "
                        "encoders, which go only when named)")
    p.set_defaults(func=_cache_command)
