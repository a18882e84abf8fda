"""A batch written out for people to label: CSV and JSON Lines with a blank label column,
and Label Studio tasks and config; each pick with its reason in words (``reason_text``).

``query`` writes each batch it picks, ``add_check`` the check items still unlabeled; the web
page offers the Label Studio tasks of the current batch.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alden.atomic import write_atomic
from alden.project import store
from alden.project.workspace import ProjectData, display_text
from alden.strategies.reasons import Reason, describe


def reason_text(data: ProjectData, item: int, reason: Reason | str | None, width: int = 6
                ) -> str:
    """A pick's reason in words; one that names a word (ALDEN's) shows it in its sentence."""
    text = describe(reason, data.classes, "sentence" if data.kind == "text" else "row")
    if (not isinstance(reason, Reason) or reason.word is None or reason.position is None
            or data.kind != "text"):
        return text
    from alden.data.text import tokenize_texts

    tokens = tokenize_texts([display_text(data.contents[item])], data.settings["tokenized"])[0]
    at = reason.position
    if not 0 <= at < len(tokens) or tokens[at] != reason.word:
        return text
    left, right = tokens[max(0, at - width):at], tokens[at + 1:at + 1 + width]
    shown = " ".join([*left, f"[{reason.word}]", *right])
    shown = ("... " if at > width else "") + shown + \
        (" ..." if at + 1 + width < len(tokens) else "")
    return f'{text}; in "{shown}"'


def write_batch(data: ProjectData, picks: Sequence[store.Pick], round_: int, out: Path, *,
                version: str) -> tuple[Path, ...]:
    """The batch as CSV and JSON Lines (a blank label to fill in) and Label Studio tasks."""
    key = "text" if data.kind == "text" else "row"
    records = []
    for p in picks:
        content = data.contents[p.item]
        records.append({
            "id": data.ids[p.item], "label": "", key: content,
            "predicted": data.classes[p.predicted] if p.predicted is not None else "",
            "confidence": round(p.confidence, 4) if p.confidence is not None else "",
            "score": round(p.score, 6) if p.score is not None else "",
            "reason": reason_text(data, p.item, p.reason)})
    stem = out / f"round-{round_:04d}"
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(records[0]) if records else ["id", "label"])
    writer.writeheader()
    for r in records:
        writer.writerow({**r, key: r[key] if data.kind == "text" else json.dumps(r[key])})
    paths = (stem.with_suffix(".csv"), stem.with_suffix(".jsonl"),
             stem.with_name(stem.name + ".labelstudio.json"))
    write_atomic(paths[0], table.getvalue())
    write_atomic(paths[1], "".join(json.dumps({**r, "label": None}, ensure_ascii=False) + "\n"
                                    for r in records))
    write_atomic(paths[2], json.dumps(label_studio_tasks(data, picks, version),
                                       ensure_ascii=False, indent=1))
    if data.classes:
        write_atomic(out / "labelstudio-config.xml", label_studio_config(data.classes))
    return paths


def label_studio_tasks(data: ProjectData, picks: Sequence[store.Pick], version: str
                       ) -> list[dict[str, Any]]:
    """Label Studio's import format: a list of {"data": {...}}, with the model's guess as a
    pre-annotation ("predictions") when there is one. Exported annotations can be taught back."""
    tasks = []
    for p in picks:
        task: dict[str, Any] = {"data": {"text": display_text(data.contents[p.item]),
                                         "id": data.ids[p.item],
                                         "reason": reason_text(data, p.item, p.reason),
                                         "score": p.score}}
        if p.predicted is not None:
            task["predictions"] = [{"model_version": version, "score": p.confidence,
                                    "result": [{"from_name": "label", "to_name": "text",
                                                "type": "choices", "value": {
                                                    "choices": [data.classes[p.predicted]]}}]}]
        tasks.append(task)
    return tasks


def label_studio_config(classes: tuple[str, ...]) -> str:
    """A Label Studio labeling config matching the tasks: one text, one choice per class."""
    from xml.sax.saxutils import quoteattr

    choices = "\n".join(f"    <Choice value={quoteattr(c)}/>" for c in classes)
    return (f'<View>\n  <Text name="text" value="$text"/>\n  <Header value="$reason"/>\n'
            f'  <Choices name="label" toName="text" choice="single">\n{choices}\n'
            f'  </Choices>\n</View>\n')
