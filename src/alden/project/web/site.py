"""What every route of the labeling page shares (``Site``): the project's folder and items,
who is asking, the page's state as JSON, the HTML pages, the background jobs and the writers'
turn. ``create_app`` makes one ``Site`` and keeps it on the app; a route asks for it with
``Depends(site_of)``."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from alden.errors import AldenError
from alden.project import answers, store
from alden.project.web.items import Texts, item_view
from alden.project.web.jobs import Jobs

HERE = Path(__file__).parent
ANNOTATOR_COOKIE = "alden_annotator"
BIG = 2**31  # item and class numbers are far below; larger ones are refused as invalid


def clean_name(name: str) -> str:
    """An annotator's name: printable, 1-40 characters, no surrounding spaces."""
    name = name.strip()
    if not name or len(name) > 40 or not name.isprintable():
        raise AldenError("a name is 1 to 40 printable characters")
    return name


def _pages() -> Environment:
    return Environment(loader=FileSystemLoader(HERE / "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True))


@dataclass
class Site:
    """One served project: made once at start, shared by every request."""

    folder: Path
    texts: Texts
    k: int  # items per batch for "Train and pick the next batch"
    default_name: str | None  # the name labels are given under until a visitor gives theirs
    jobs: Jobs = field(default_factory=Jobs)
    # Writers of this server take turns here, woken at once, instead of in SQLite's busy
    # handler, which polls with sleeps of up to 100 ms (measured: p95 latency with 8 clients).
    write_turn: threading.Lock = field(default_factory=threading.Lock)
    pages: Environment = field(default_factory=_pages)

    @classmethod
    def open(cls, folder: Path, *, annotator: str | None, k: int) -> Site:
        """The site of the project in ``folder`` (checked now: a bad folder fails here)."""
        with closing(store.connect(folder)) as conn:
            texts = Texts.read(conn, folder)
        return cls(folder, texts, k, clean_name(annotator) if annotator else None)

    def connect(self) -> AbstractContextManager[sqlite3.Connection]:
        """A connection to the project, closed when the ``with`` block ends."""
        return closing(store.connect(self.folder))

    def who(self, request: Request) -> str | None:
        """The annotator's name from their cookie, else the server's default (or None)."""
        raw = request.cookies.get(ANNOTATOR_COOKIE)
        if raw:
            try:
                return clean_name(unquote(raw))
            except AldenError:
                return self.default_name
        return self.default_name

    def need_who(self, request: Request) -> str:
        """The annotator's name; AldenError when nobody said who they are."""
        name = self.who(request)
        if name is None:
            raise AldenError("say who you are first (your name is asked once)")
        return name

    def state(self, request: Request, conn: sqlite3.Connection | None = None,
              **extra: Any) -> dict[str, Any]:
        """The label page's state for this annotator: their batch, counts and the job."""
        if conn is None:
            with self.connect() as own:
                return self.state(request, own, **extra)
        name = self.who(request)  # an answer and the state after it share one connection
        classes = store.classes(conn)
        q = answers.queue(conn, name or "")
        current = q.current
        return {"annotator": name, "classes": list(classes), "round": q.round,
                "size": q.size, "done": q.done, "labeled": q.labeled, "skipped": q.skipped,
                "elsewhere": q.elsewhere,
                "position": q.done + q.elsewhere + 1 if current is not None else None,
                "item": item_view(self.texts, current, classes) if current else None,
                "total_labeled": store.label_count(conn), "items": len(self.texts.ids),
                "disagreements": answers.open_count(conn), "job": self.jobs.current(),
                "k": self.k, **extra}

    def page(self, name: str, request: Request, **values: Any) -> HTMLResponse:
        """A template rendered with the session's CSRF token and the project's name."""
        html = self.pages.get_template(name).render(csrf=request.scope["state"]["csrf"],
                                                    project=self.folder.name, **values)
        return HTMLResponse(html)


async def site_of(request: Request) -> Site:
    """The dependency that hands a route the app's ``Site``."""
    return request.app.state.site
