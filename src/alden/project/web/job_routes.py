"""The slow work the pages start: "Train and pick the next batch" (``/api/query``), "Estimate
accuracy" (``/api/evaluate``), and the running job's state (``/api/job``). Each runs in
``Jobs``' background thread; labeling goes on meanwhile. A query holds the project's query
lock: while another process queries the project, the job fails saying so."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from alden.project.locks import query_lock
from alden.project.progress import Say
from alden.project.status_text import unlabeled_class_lines
from alden.project.web.site import Site, site_of

router = APIRouter()
Here = Annotated[Site, Depends(site_of)]


class Batch(BaseModel):
    k: int | None = Field(default=None, ge=1, le=1000)


@router.post("/api/query")
def next_batch(body: Batch, site: Here) -> dict[str, Any]:
    from alden.project.query import query

    size = body.k or site.k

    def work(report: Say) -> dict[str, Any]:
        with query_lock(site.folder):  # not while a query of another process runs
            r = query(site.folder, size, on_step=report)
        return {"round": r.round, "picked": len(r.picks), "cold_start": r.cold_start,
                "strategy": r.strategy, "model": r.model, "n_labeled": r.n_labeled,
                "unlabeled_classes": list(r.unlabeled_classes)}

    started, view = site.jobs.start("query", work, _describe_batch)
    return {"started": started, "job": view}


def _describe_batch(r: dict[str, Any]) -> str:
    warning = "".join(" " + line for line in unlabeled_class_lines(
        tuple(r.get("unlabeled_classes", ()))))
    if r["cold_start"]:
        return (f"round {r['round']}: cold start ({r['cold_start']}): {r['picked']} "
                f"diverse items.{warning}")
    return (f"round {r['round']}: {r['model']} trained on {r['n_labeled']} labels; "
            f"{r['strategy']} picked {r['picked']} items.{warning}")


@router.post("/api/evaluate")
def evaluate(site: Here) -> dict[str, Any]:
    """Everything `alden status` computes (the curve's every point included), for the
    status page to show once done."""
    from alden.project.status import status

    def work(report: Say) -> dict[str, Any]:
        s = status(site.folder, full_curve=True, say=report)
        a, c = s.accuracy, s.stopping.check if s.stopping else None
        return {"accuracy": None if a is None else round(a.accuracy, 4),
                "std": None if a is None else round(a.std, 4),
                "folds": None if a is None else a.folds, "model": s.model,
                "why": s.why_no_accuracy, "check": None if c is None else round(c.accuracy, 4),
                "check_n": None if c is None else c.n}

    started, view = site.jobs.start("evaluate", work, _describe_accuracy)
    return {"started": started, "job": view}


def _describe_accuracy(r: dict[str, Any]) -> str:
    if r["check"] is not None:
        return f"{r['model']}: {r['check']:.3f} on {r['check_n']} check items"
    if r["accuracy"] is None:
        return r["why"]
    return (f"{r['model']}: {r['accuracy']:.3f} ± {r['std']:.3f} by {r['folds']}-fold "
            f"cross-validation on the picked labels (runs low: see the note)")


@router.get("/api/job")
def job(site: Here) -> dict[str, Any]:
    return {"job": site.jobs.current()}
