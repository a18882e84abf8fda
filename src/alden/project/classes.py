"""Naming a project's classes after ``init`` (``add_classes``): what the label page asks for
when a project was made without ``--classes`` and nothing has labeled it yet."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from alden.errors import AldenError
from alden.project import store

MAX_NAME = 100  # characters in a class name: it is a button on the page and a CSV cell


def check_names(names: Iterable[str], known: Iterable[str] = ()) -> tuple[str, ...]:
    """The names stripped, in order; an AldenError for an empty, overlong, unprintable or
    repeated name, or one the project has already."""
    names = [n.strip() for n in names]
    if not names:
        raise AldenError("name at least one class")
    have = set(known)
    seen: set[str] = set()
    for name in names:
        if not name:
            raise AldenError("a class name is empty")
        if len(name) > MAX_NAME or not name.isprintable():
            raise AldenError(f"a class name is 1 to {MAX_NAME} printable characters, not "
                             f"{name[:MAX_NAME]!r}")
        if name in seen:
            raise AldenError(f"class {name!r} is named twice")
        if name in have:
            raise AldenError(f"the project has a class {name!r} already")
        seen.add(name)
    return tuple(names)


def add_classes(conn: sqlite3.Connection, names: Iterable[str]) -> tuple[str, ...]:
    """Append ``names`` (checked by ``check_names``) to the project's classes in one
    transaction; the project's classes after it. A name may hold commas: it is never split."""
    new = check_names(names, store.classes(conn))
    store.add_classes(conn, new)
    return store.classes(conn)
