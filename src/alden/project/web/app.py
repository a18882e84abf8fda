"""The labeling app (``create_app``): one ``Site`` for the served project, the routers of its
pages, the error handlers and the guard.

The routes are in a module per page: ``label_routes`` (the label page and its answers),
``job_routes`` (next batch, estimate accuracy), ``status_routes`` (status page, curve,
resolve) and ``export_routes`` (the downloads). No route takes a file name or path, and no
route runs SQL: they call the functions of ``alden.project``. The project is the same SQLite
file the commands use, so ``alden teach``, ``alden label`` and this page can work on it at
once.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from alden.errors import AldenError
from alden.project.web import export_routes, job_routes, label_routes, status_routes
from alden.project.web.security import Guard, GuardMiddleware
from alden.project.web.site import Site

ROUTERS = (label_routes.router, job_routes.router, status_routes.router, export_routes.router)


def create_app(folder: str | Path, *, host: str = "127.0.0.1", annotator: str | None = None,
               k: int = 10, guard: Guard | None = None) -> FastAPI:
    """The labeling app for the project in ``folder`` (checked now: a bad folder fails here)."""
    folder = Path(folder)
    site = Site.open(folder, annotator=annotator, k=k)
    guard = guard or Guard.for_host(host)
    app = FastAPI(title="alden", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.site, app.state.jobs = site, site.jobs  # jobs: tests wait for them
    app.add_exception_handler(AldenError, _alden_error)
    app.add_exception_handler(Exception, _any_error)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(GuardMiddleware, guard=guard)
    return app


async def _alden_error(request: Request, err: Exception) -> JSONResponse:
    return JSONResponse({"error": str(err)}, status_code=400)


async def _any_error(request: Request, err: Exception) -> JSONResponse:
    return JSONResponse({"error": f"the server failed: {type(err).__name__}"}, status_code=500)
