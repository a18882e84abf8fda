"""The label page (``/``) and its answers: who is labeling, the state, the classes of a
project made without them, a label, a skip, an undo; and the pages' static files.

Each label, skip and undo is one transaction of ``alden.project.answers``, committed
before the answer is sent; a request's ``client_id`` makes a retry count once. The static
files are a fixed set read at start: nothing on disk is looked up by a requested name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from alden.errors import AldenError
from alden.project import answers
from alden.project.classes import MAX_NAME, add_classes
from alden.project.web.site import ANNOTATOR_COOKIE, BIG, Site, clean_name, site_of

STATIC = {"app.js": "text/javascript", "status.js": "text/javascript", "style.css": "text/css"}
FILES = {name: (Path(__file__).parent / "static" / name).read_bytes() for name in STATIC}
CLIENT_ID = r"^[A-Za-z0-9_-]{8,64}$"

router = APIRouter()
Here = Annotated[Site, Depends(site_of)]


class Answer(BaseModel):
    item: int = Field(ge=0, lt=BIG)
    label: int | None = Field(default=None, ge=0, lt=BIG)
    client_id: str = Field(pattern=CLIENT_ID)


class Undo(BaseModel):
    client_id: str = Field(pattern=CLIENT_ID)


class Name(BaseModel):
    name: str = Field(min_length=1, max_length=40)


class ClassNames(BaseModel):
    names: list[Annotated[str, Field(max_length=MAX_NAME + 20)]] = Field(min_length=1,
                                                                       max_length=100)


@router.get("/", response_class=HTMLResponse)
def label_page(request: Request, site: Here) -> HTMLResponse:
    return site.page("label.html", request, annotator=site.who(request))


@router.get("/static/{name}")
def asset(name: str) -> Response:
    if name not in FILES:  # a fixed set: nothing on disk is looked up by the name
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(FILES[name], media_type=STATIC[name])


@router.get("/api/state")
def get_state(request: Request, site: Here) -> dict[str, Any]:
    return site.state(request)


@router.post("/api/annotator")
def set_annotator(body: Name) -> JSONResponse:
    name = clean_name(body.name)
    response = JSONResponse({"annotator": name})
    response.set_cookie(ANNOTATOR_COOKIE, quote(name), max_age=365 * 24 * 3600,
                        httponly=True, samesite="strict")
    return response


@router.post("/api/classes")
def name_classes(body: ClassNames, request: Request, site: Here) -> dict[str, Any]:
    """Add classes (the page asks for them while the project has none); the state after."""
    site.need_who(request)
    with site.connect() as conn:
        with site.write_turn:
            add_classes(conn, body.names)
        return site.state(request, conn)


@router.post("/api/label")
def label(body: Answer, request: Request, site: Here) -> dict[str, Any]:
    name = site.need_who(request)
    if body.label is None:
        raise AldenError("a label needs its class")
    return _answer(site, request, name, body.item, body.label, body.client_id)


@router.post("/api/skip")
def skip(body: Answer, request: Request, site: Here) -> dict[str, Any]:
    return _answer(site, request, site.need_who(request), body.item, None, body.client_id)


@router.post("/api/undo")
def undo(body: Undo, request: Request, site: Here) -> dict[str, Any]:
    name = site.need_who(request)
    with site.connect() as conn:
        with site.write_turn:
            done = answers.undo(conn, who=name, client_id=body.client_id)
        return site.state(request, conn, ack=done.__dict__)


def _answer(site: Site, request: Request, name: str, item: int, label: int | None,
            client_id: str) -> dict[str, Any]:
    """Record ``name``'s label (a class) or skip (None); the state after it, on one
    connection."""
    with site.connect() as conn:
        with site.write_turn:
            done = answers.give(conn, item, label, who=name, source=answers.PAGE_SOURCE,
                                    client_id=client_id)
        return site.state(request, conn, ack=done.__dict__)
