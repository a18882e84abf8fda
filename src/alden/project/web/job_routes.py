"""The slow work the pages start: "Train and pick the next batch" (``/api/query``), "Estimate
accuracy" (``/api/evaluate``), and the running job's state (``/api/job``). Each runs in
``Jobs``' background thread; labeling goes on meanwhile. A query holds the project's query
lock: while another process queries the project, the job fails saying so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from alden.project.locks import query_lock
from alden.project.web.site import Site, site_of

router = APIRouter()
Here = Annotated[Site, Depends(site_of)]


class Batch(BaseModel):
    k: int | None = Field(default=None, ge=1, le=1000)


@router.post("/api/query")
def next_batch(body: Batch, site: Here) -> dict[str, Any]:
    from alden.project.query import query

    size = body.k or site.k

    def work(report: Callable[[str], None]) -> dict[str, Any]:
        with query_lock(site.folder):  # not while a query of another process runs
            r = query(site.folder, size, on_step=report)
        return {"round": r.round, "picked": len(r.picks), "cold_start": r.cold_start,
                "strategy": r.strategy, "model": r.model, "n_labeled": r.n_labeled}

    started, view = site.jobs.start("query", work, _describe_batch)
    return {"started": started, "job": view}


def _describe_batch(r: dict[str, Any]) -> str:
    if r["cold_start"]:
        return (f"round {r['round']}: cold start ({r['cold_start']}): {r['picked']} "
                f"diverse items")
    return (f"round {r['round']}: {r['model']} trained on {r['n_labeled']} labels; "
            f"{r['strategy']} picked {r['picked']} items")


@router.post("/api/evaluate")
def evaluate(site: Here) -> dict[str, Any]:
    from alden.project.status import status

    def work(report: Callable[[str], None]) -> dict[str, Any]:
        report("cross-validating the current labels")
        s = status(site.folder)
        a = s.accuracy
        return {"accuracy": None if a is None else round(a.accuracy, 4),
                "std": None if a is None else round(a.std, 4),
                "folds": None if a is None else a.folds, "model": s.model,
                "majority": s.majority, "why": s.why_no_accuracy,
                "curve": [list(p) for p in s.curve]}

    started, view = site.jobs.start("evaluate", work, _describe_accuracy)
    return {"started": started, "job": view}


def _describe_accuracy(r: dict[str, Any]) -> str:
    if r["accuracy"] is None:
        return r["why"]
    return (f"{r['model']}: {r['accuracy']:.3f} ± {r['std']:.3f} by {r['folds']}-fold "
            f"cross-validation (majority class {r['majority']:.3f})")


@router.get("/api/job")
def job(site: Here) -> dict[str, Any]:
    return {"job": site.jobs.current()}
