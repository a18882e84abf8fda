"""The `alden` subcommands that keep labels safe: restore, export, and `status --check`.

The work is done in ``alden.project.backup``, ``export`` and ``integrity``; this module
prints what happened. ``register_backup_cli`` is called by ``project.cli.register_cli``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from alden.atomic import size_text
from alden.cli_types import plural
from alden.project import backup, db, export, integrity


def check_database(folder: str | Path) -> None:
    """`status --check`: SQLite's full integrity check; ProjectError if the file is damaged."""
    folder = Path(folder)
    conn = db.connect(folder, check=False)
    try:
        start = time.perf_counter()
        problems = integrity.full_check(conn)
        took = time.perf_counter() - start
    finally:
        conn.close()
    if problems:
        raise integrity.damaged(db.db_path(folder), "PRAGMA integrity_check: "
                                + "; ".join(problems[:5]))
    print(f"database check: {db.db_path(folder)} is sound (PRAGMA integrity_check, "
          f"{took * 1000:.0f} ms)")


def cmd_restore(args: argparse.Namespace) -> int:
    """`alden restore`: list the backups, or put one back."""
    folder = Path(args.project)
    if args.list or not args.backup:
        found = backup.backups(folder)
        if not found:
            print(f"no backups in {folder / integrity.BACKUPS} yet (one is made before each "
                  f"teach and each query)")
            return 0
        print(f"backups of {folder} (newest last; `alden restore {folder} NAME` puts one back):")
        for path in found:
            info = backup.inspect(path)
            what = (f"{info.labels} labels, {info.rounds} rounds" if info.problem is None
                    else f"cannot be restored: {info.problem}")
            print(f"  {path.name}  {size_text(info.size):>8}  {what}")
        aside = sorted((folder / integrity.BACKUPS).glob("damaged-*.db"))
        if aside:
            print("damaged files kept aside by earlier restores: "
                  + ", ".join(p.name for p in aside))
        return 0
    done = backup.restore(folder, args.backup)
    if done.saved is not None:
        print(f"saved the database it replaced as {done.saved}")
    if done.damaged_copy is not None:
        print(f"the database it replaced was damaged; its bytes are kept in {done.damaged_copy}")
    print(f"restored {done.source.name}: {folder} has {done.labels} labels again")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """`alden export`: every label as CSV or JSON Lines, damaged database or not."""
    done = export.export_labels(args.project, args.out)
    print(f"wrote {done.rows} labels to {done.path} ({', '.join(export.COLUMNS)})")
    if done.damaged:
        folder = Path(args.project)
        recovered = (f" ({done.recovered} of them recovered from the label history)"
                     if done.recovered else "")
        print(f"the database is damaged: these are the labels that could be read{recovered}")
        if done.lost:
            shown = ", ".join(f"#{i}" for i in done.lost[:20])
            more = f" and {len(done.lost) - 20} more" if len(done.lost) > 20 else ""
            print(f"the labels of {plural(len(done.lost), 'item')} could not be read (pool "
                  f"positions {shown}{more})")
        print(integrity.restore_hint(folder, readable=False))
    return 0


def register_backup_cli(sub: argparse._SubParsersAction) -> None:
    """Add restore and export to the `alden` command."""
    p = sub.add_parser("restore", help="list the project's backups, or put one back",
                       description="A copy of the database is kept in PROJECT/backups before "
                       f"each teach and each query (the newest {backup.KEEP}). Restoring "
                       "checks the copy in full, saves the current database first, and "
                       "replaces it in one step.")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("backup", nargs="?", metavar="BACKUP",
                   help="a backup's name from --list (or a path to one)")
    p.add_argument("--list", action="store_true", help="list the backups (the default)")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("export", help="write every label to a CSV or JSON Lines file",
                       description="Writes id, label, annotator, time, round and source of "
                       "every label (the web page's CSV download is the same table). On a "
                       "damaged database it writes the labels that can be read.")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--out", required=True, metavar="FILE", help="labels.csv or labels.jsonl")
    p.set_defaults(func=cmd_export)
