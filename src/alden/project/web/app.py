"""The labeling page's routes (``create_app``): the label page, the status page, a JSON API
the page's own script calls, exports, and the background jobs.

Each label, skip, undo and resolve is one transaction of ``alden.project.annotations``,
committed before the answer is sent; a request's ``client_id`` makes a retry count once.
No route takes a file name or path: the exports and the learning curve are fixed names, the
static files a fixed set read at start. The project is the same SQLite file the commands
use, so ``alden teach``, ``alden label`` and this page can work on it at once.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field

from alden.errors import AldenError
from alden.project import annotations, store
from alden.project.web.items import Texts, item_view
from alden.project.web.jobs import Jobs
from alden.project.web.security import Guard, GuardMiddleware

HERE = Path(__file__).parent
ANNOTATOR_COOKIE = "alden_annotator"
STATIC = {"app.js": "text/javascript", "status.js": "text/javascript", "style.css": "text/css"}
CLIENT_ID = r"^[A-Za-z0-9_-]{8,64}$"


BIG = 2**31  # item and class numbers are far below; larger ones are refused as invalid


class Answer(BaseModel):
    item: int = Field(ge=0, lt=BIG)
    label: int | None = Field(default=None, ge=0, lt=BIG)
    client_id: str = Field(pattern=CLIENT_ID)


class Undo(BaseModel):
    client_id: str = Field(pattern=CLIENT_ID)


class Name(BaseModel):
    name: str = Field(min_length=1, max_length=40)


class Batch(BaseModel):
    k: int | None = Field(default=None, ge=1, le=1000)


class Resolution(BaseModel):
    item: int = Field(ge=0, lt=BIG)
    label: int = Field(ge=0, lt=BIG)


def clean_name(name: str) -> str:
    """An annotator's name: printable, 1-40 characters, no surrounding spaces."""
    name = name.strip()
    if not name or len(name) > 40 or not name.isprintable():
        raise AldenError("a name is 1 to 40 printable characters")
    return name


def create_app(folder: str | Path, *, host: str = "127.0.0.1", annotator: str | None = None,
               k: int = 10, guard: Guard | None = None) -> FastAPI:
    """The labeling app for the project in ``folder`` (checked now: a bad folder fails here)."""
    folder = Path(folder)
    with closing(store.connect(folder)) as conn:
        texts = Texts.read(conn, folder)
    guard = guard or Guard.for_host(host)
    default_name = clean_name(annotator) if annotator else None
    jobs = Jobs()
    # Writers of this server take turns here, woken at once, instead of in SQLite's busy
    # handler, which polls with sleeps of up to 100 ms (measured: p95 latency with 8 clients).
    write_turn = threading.Lock()
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    static = {name: (HERE / "static" / name).read_bytes() for name in STATIC}
    app = FastAPI(title="alden", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.guard, app.state.jobs, app.state.folder = guard, jobs, folder

    def connect():
        return closing(store.connect(folder))

    def who(request: Request) -> str | None:
        raw = request.cookies.get(ANNOTATOR_COOKIE)
        if raw:
            try:
                return clean_name(unquote(raw))
            except AldenError:
                return default_name
        return default_name

    def need_who(request: Request) -> str:
        name = who(request)
        if name is None:
            raise AldenError("say who you are first (your name is asked once)")
        return name

    def state(request: Request, conn=None, **extra: Any) -> dict[str, Any]:
        if conn is None:
            with connect() as own:
                return state(request, own, **extra)
        name = who(request)  # an answer and the state after it share one connection
        classes = store.classes(conn)
        q = annotations.queue(conn, name or "")
        current = q.current
        total = conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0]
        open_ = annotations.open_count(conn)
        return {"annotator": name, "classes": list(classes), "round": q.round,
                "size": q.size, "done": q.done, "labeled": q.labeled, "skipped": q.skipped,
                "position": q.done + 1 if current is not None else None,
                "item": item_view(texts, current, classes) if current else None,
                "total_labeled": total, "items": len(texts.ids), "disagreements": open_,
                "job": jobs.current(), "k": k, **extra}

    def page(name: str, request: Request, **values: Any) -> HTMLResponse:
        html = env.get_template(name).render(csrf=request.scope["state"]["csrf"],
                                             project=folder.name, **values)
        return HTMLResponse(html)

    @app.exception_handler(AldenError)
    async def alden_error(request: Request, err: AldenError) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=400)

    @app.exception_handler(Exception)
    async def any_error(request: Request, err: Exception) -> JSONResponse:
        return JSONResponse({"error": f"the server failed: {type(err).__name__}"},
                            status_code=500)

    @app.get("/", response_class=HTMLResponse)
    def label_page(request: Request) -> HTMLResponse:
        return page("label.html", request, annotator=who(request))

    @app.get("/static/{name}")
    def asset(name: str) -> Response:
        if name not in static:  # a fixed set: nothing on disk is looked up by the name
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(static[name], media_type=STATIC[name])

    @app.get("/api/state")
    def get_state(request: Request) -> dict[str, Any]:
        return state(request)

    @app.post("/api/annotator")
    def set_annotator(body: Name, request: Request) -> JSONResponse:
        name = clean_name(body.name)
        response = JSONResponse({"annotator": name})
        response.set_cookie(ANNOTATOR_COOKIE, quote(name), max_age=365 * 24 * 3600,
                            httponly=True, samesite="strict")
        return response

    @app.post("/api/label")
    def label(body: Answer, request: Request) -> dict[str, Any]:
        name = need_who(request)
        if body.label is None:
            raise AldenError("a label needs its class")
        with connect() as conn:
            with write_turn:
                done = annotations.give(conn, body.item, body.label, who=name,
                                        source="serve", client_id=body.client_id)
            return state(request, conn, ack=done.__dict__)

    @app.post("/api/skip")
    def skip(body: Answer, request: Request) -> dict[str, Any]:
        name = need_who(request)
        with connect() as conn:
            with write_turn:
                done = annotations.give(conn, body.item, None, who=name, source="serve",
                                        client_id=body.client_id)
            return state(request, conn, ack=done.__dict__)

    @app.post("/api/undo")
    def undo(body: Undo, request: Request) -> dict[str, Any]:
        name = need_who(request)
        with connect() as conn:
            with write_turn:
                done = annotations.undo(conn, who=name, client_id=body.client_id)
            return state(request, conn, ack=done.__dict__)

    @app.post("/api/query")
    def next_batch(body: Batch) -> dict[str, Any]:
        from alden.project.query import query

        size = body.k or k

        def work(report: Callable[[str], None]) -> dict[str, Any]:
            r = query(folder, size, on_step=report)
            return {"round": r.round, "picked": len(r.picks), "cold_start": r.cold_start,
                    "strategy": r.strategy, "model": r.model, "n_labeled": r.n_labeled}

        def describe(r: dict[str, Any]) -> str:
            if r["cold_start"]:
                return (f"round {r['round']}: cold start ({r['cold_start']}): {r['picked']} "
                        f"diverse items")
            return (f"round {r['round']}: {r['model']} trained on {r['n_labeled']} labels; "
                    f"{r['strategy']} picked {r['picked']} items")

        started, view = jobs.start("query", work, describe)
        return {"started": started, "job": view}

    @app.post("/api/evaluate")
    def evaluate() -> dict[str, Any]:
        from alden.project.status import status

        def work(report: Callable[[str], None]) -> dict[str, Any]:
            report("cross-validating the current labels")
            s = status(folder)
            a = s.accuracy
            return {"accuracy": None if a is None else round(a.accuracy, 4),
                    "std": None if a is None else round(a.std, 4),
                    "folds": None if a is None else a.folds, "model": s.model,
                    "majority": s.majority, "why": s.why_no_accuracy,
                    "curve": [list(p) for p in s.curve]}

        def describe(r: dict[str, Any]) -> str:
            if r["accuracy"] is None:
                return r["why"]
            return (f"{r['model']}: {r['accuracy']:.3f} ± {r['std']:.3f} by {r['folds']}-fold "
                    f"cross-validation (majority class {r['majority']:.3f})")

        started, view = jobs.start("evaluate", work, describe)
        return {"started": started, "job": view}

    @app.get("/api/job")
    def job() -> dict[str, Any]:
        return {"job": jobs.current()}

    @app.post("/api/resolve")
    def resolve(body: Resolution, request: Request) -> dict[str, Any]:
        name = need_who(request)
        with connect() as conn, write_turn:
            annotations.resolve(conn, body.item, body.label, who=name)
        return {"resolved": body.item}

    @app.get("/status", response_class=HTMLResponse)
    def status_page(request: Request) -> HTMLResponse:
        from alden.project.web.summary import summary

        with connect() as conn:
            values = summary(conn, texts)
        return page("status.html", request, annotator=who(request), job=jobs.current(),
                    curve=(folder / "status" / "learning_curve.png").is_file(), **values)

    @app.get("/curve.png")
    def curve() -> Response:
        path = folder / "status" / "learning_curve.png"  # the one picture, by a fixed name
        if not path.is_file():
            return Response("no learning curve yet", status_code=404, media_type="text/plain")
        return Response(path.read_bytes(), media_type="image/png")

    @app.get("/export/labels.csv")
    def export_labels() -> Response:
        with connect() as conn:
            classes = store.classes(conn)
            rows = conn.execute("SELECT item, label, who, at, round, source FROM labels "
                                "ORDER BY item").fetchall()
        table = io.StringIO()
        writer = csv.writer(table)
        writer.writerow(["id", "label", "who", "at", "round", "source"])
        for item, label, by, at, round_, source in rows:
            writer.writerow([texts.ids[item], classes[label], by, at, round_, source])
        return _download(table.getvalue(), f"{folder.name}-labels.csv", "text/csv")

    @app.get("/export/labelstudio.json")
    def export_label_studio() -> Response:
        from alden.project.batch_files import label_studio_tasks

        with connect() as conn:
            classes = store.classes(conn)
            round_ = store.current_round(conn)
            picks = store.round_picks(conn, round_) if round_ else []
        tasks = label_studio_tasks(texts.data(classes), picks, f"round {round_}")
        return _download(json.dumps(tasks, ensure_ascii=False, indent=1),
                         f"{folder.name}-round-{round_:04d}.labelstudio.json",
                         "application/json")

    app.add_middleware(GuardMiddleware, guard=guard)
    return app


def _download(body: str, name: str, media_type: str) -> Response:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return Response(body, media_type=f"{media_type}; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{safe}"'})
