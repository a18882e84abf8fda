"""What the status page shows, read from the project in one go: counts, class balance,
rounds, who labeled how much, the disagreements (open and resolved) and the accuracy
estimates already computed (the evaluations table, shared with ``alden status``)."""

from __future__ import annotations

import sqlite3
from typing import Any

from alden.project import answers, store
from alden.project.web.items import Texts
from alden.project.workspace import display_text


def summary(conn: sqlite3.Connection, texts: Texts) -> dict[str, Any]:
    """The status page's values, all read through one connection."""
    classes = store.classes(conn)
    current = store.labels(conn)
    counts = {c: 0 for c in classes}
    for label in current.labels:
        counts[classes[label]] += 1
    labeled = len(current)
    balance = [{"name": c, "count": n, "share": n / labeled if labeled else 0.0}
               for c, n in counts.items()]
    people = [{"who": w, "labels": n, "skips": s} for w, n, s in store.answer_counts(conn)]

    def shown(d: answers.Disagreement) -> dict[str, Any]:
        return {"item": d.item, "id": texts.ids[d.item],
                "text": display_text(texts.contents[d.item])[:300],
                "label": classes[d.label] if d.label is not None else None,
                "answers": [{"who": a.who, "label": classes[a.label]} for a in d.answers]}

    return {"items": len(texts.ids), "labeled": labeled, "balance": balance,
            "classes": list(classes), "rounds": store.rounds(conn), "people": people,
            "open": [shown(d) for d in answers.disagreements(conn)],
            "resolved": [shown(d) for d in answers.disagreements(conn, resolved=True)],
            "evaluations": store.evaluation_rows(conn)}
