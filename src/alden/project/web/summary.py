"""What the status page shows beside ``alden status``'s numbers, read in one go: who labeled
how much and the disagreements (open and resolved). The counts, accuracies, curve and
stopping advice are ``alden.project.status``'s, computed by nothing here (``accuracy``)."""

from __future__ import annotations

import sqlite3
from typing import Any

from alden.project import answers, store
from alden.project.status import Status
from alden.project.web.items import Texts
from alden.project.workspace import display_text


def summary(conn: sqlite3.Connection, texts: Texts) -> dict[str, Any]:
    """The status page's values about people and disagreements, through one connection."""
    classes = store.classes(conn)
    people = [{"who": w, "labels": n, "skips": s} for w, n, s in store.answer_counts(conn)]

    def shown(d: answers.Disagreement) -> dict[str, Any]:
        return {"item": d.item, "id": texts.ids[d.item],
                "text": display_text(texts.contents[d.item])[:300],
                "label": classes[d.label] if d.label is not None else None,
                "answers": [{"who": a.who, "label": classes[a.label]} for a in d.answers]}

    return {"classes": list(classes), "people": people,
            "open": [shown(d) for d in answers.disagreements(conn)],
            "resolved": [shown(d) for d in answers.disagreements(conn, resolved=True)]}


def accuracy(s: Status) -> dict[str, Any]:
    """The status's numbers as the page lays them out: training labels by class (the check
    items counted apart), and one curve row per labeled state, in order (the check accuracy
    of its model, the cross-validation on the picked labels; the current model only)."""
    labeled = sum(s.counts.values())
    balance = [{"name": c, "count": n, "share": n / labeled if labeled else 0.0}
               for c, n in s.counts.items()]
    rows: dict[int, dict[str, Any]] = {}
    for p in s.stopping.curve if s.stopping else ():
        rows.setdefault(p.labels, {"labels": p.labels, "round": None})["check"] = p.check
    for round_, n, acc, std in s.curve:
        rows.setdefault(n, {"labels": n})["cv"] = (acc, std)
        rows[n]["round"] = round_
    return {"st": s, "labeled": labeled, "balance": balance,
            "unlabeled": s.items - labeled - s.check_labeled,
            "curve_rows": [rows[r] for r in sorted(rows)]}
