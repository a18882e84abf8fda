"""The status page (``/status``), its learning curve (``/curve.png``, a fixed name: no route
takes a file name) and the resolving of a disagreement (``/api/resolve``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from alden.project import answers
from alden.project.status import status
from alden.project.status_text import unlabeled_class_lines
from alden.project.web.site import BIG, Site, site_of
from alden.project.web.summary import accuracy, summary

router = APIRouter()
Here = Annotated[Site, Depends(site_of)]


class Resolution(BaseModel):
    item: int = Field(ge=0, lt=BIG)
    label: int = Field(ge=0, lt=BIG)


@router.post("/api/resolve")
def resolve(body: Resolution, request: Request, site: Here) -> dict[str, Any]:
    name = site.need_who(request)
    with site.connect() as conn, site.write_turn:
        answers.resolve(conn, body.item, body.label, who=name)
    return {"resolved": body.item}


@router.get("/status", response_class=HTMLResponse)
def status_page(request: Request, site: Here) -> HTMLResponse:
    """The numbers of `alden status`, as far as earlier commands computed them (nothing is
    trained here: "Estimate accuracy" runs the rest), and the annotators' work."""
    with site.connect() as conn:
        values = summary(conn, site.texts)
    numbers = accuracy(status(site.folder, evaluate=False))
    return site.page("status.html", request, annotator=site.who(request),
                     job=site.jobs.current(), curve=_curve_path(site).is_file(),
                     warnings=unlabeled_class_lines(numbers["st"].unlabeled_classes),
                     **values, **numbers)


@router.get("/curve.png")
def curve(site: Here) -> Response:
    path = _curve_path(site)
    if not path.is_file():
        return Response("no learning curve yet", status_code=404, media_type="text/plain")
    return Response(path.read_bytes(), media_type="image/png")


def _curve_path(site: Site) -> Path:
    return site.folder / "status" / "learning_curve.png"  # the one picture, by a fixed name
