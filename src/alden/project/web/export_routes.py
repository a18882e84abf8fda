"""The downloads: every label as CSV (the table `alden export` writes, from
``alden.project.export``) and the current batch as Label Studio tasks. Both are fixed names;
the file name sent is the project's, made safe."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from alden.project import export, store
from alden.project.web.site import Site, site_of

router = APIRouter()
Here = Annotated[Site, Depends(site_of)]


@router.get("/export/labels.csv")
def export_labels(site: Here) -> Response:
    return _download(export.labels_csv(site.folder), f"{site.folder.name}-labels.csv",
                     "text/csv")


@router.get("/export/labelstudio.json")
def export_label_studio(site: Here) -> Response:
    from alden.project.batch_files import label_studio_tasks

    with site.connect() as conn:
        classes = store.classes(conn)
        round_ = store.current_round(conn)
        picks = store.round_picks(conn, round_) if round_ else []
    tasks = label_studio_tasks(site.texts.data(classes), picks, f"round {round_}")
    return _download(json.dumps(tasks, ensure_ascii=False, indent=1),
                     f"{site.folder.name}-round-{round_:04d}.labelstudio.json",
                     "application/json")


def _download(body: str, name: str, media_type: str) -> Response:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return Response(body, media_type=f"{media_type}; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{safe}"'})
