"""An item as the labeling page shows it: the text cut into pieces (plain text; the page puts
each piece in an element with ``textContent``), each word with the size of its interpretation
for a heat map, ALDEN's word marked, the model's guess and the reason in words.

The words of a reason are the tokens the model read (lower case, punctuation apart); each is
found in the original text from left to right, so the page shows the text as written with
the heat laid over it. Where the text cannot be matched (a normalisation changed its length)
the tokens are shown instead.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alden.data.text import tokenize
from alden.project import store
from alden.project.batch_files import reason_text
from alden.project.workspace import ProjectData, display_text
from alden.strategies.reasons import Reason

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


@dataclass(frozen=True)
class Texts:
    """A project's items, read once (they never change after ``init``)."""

    folder: Path
    settings: dict[str, Any]
    ids: list[str]
    contents: list[str | dict[str, Any]]  # each item's text, or its table row by column

    @classmethod
    def read(cls, conn: sqlite3.Connection, folder: Path) -> Texts:
        return cls(folder, store.settings(conn), store.item_ids(conn), store.item_contents(conn))

    def data(self, classes: tuple[str, ...]) -> ProjectData:
        """Enough of a ProjectData for ``reason_text`` (no encoded pool)."""
        return ProjectData(self.folder, self.settings, self.ids, self.contents, classes,
                           np.zeros((0, 0)), None, store.Labels((), (), ()))


def spans(text: str, pretokenized: bool) -> list[tuple[int, int]] | None:
    """Where each token of ``text`` is in it, or None when they cannot be placed."""
    if pretokenized:
        return [m.span() for m in re.finditer(r"\S+", text)]
    norm = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    if len(norm) != len(text):
        return None
    out, at = [], 0
    for token in tokenize(text):
        start = norm.find(token, at)
        if start < 0:
            return None
        out.append((start, start + len(token)))
        at = start + len(token)
    return out


def segments(text: str, reason: Reason | str | None, pretokenized: bool
             ) -> list[dict[str, Any]]:
    """The text in pieces: {"t": text, "h": heat 0..1 or None, "v": interpretation size,
    "m": True on the word that made ALDEN pick the item}."""
    if not isinstance(reason, Reason) or (not reason.interpretations
                                          and reason.position is None):
        return [{"t": text}]
    heat, position = reason.interpretations, reason.position
    placed = spans(text, pretokenized)
    if placed is None:  # show the tokens themselves
        words = list(reason.words or tokenize(text))
        text = " ".join(words)
        placed, at = [], 0
        for w in words:
            placed.append((at, at + len(w)))
            at += len(w) + 1
    top = max(heat) if heat else 0.0
    pieces, at = [], 0
    for i, (start, end) in enumerate(placed):
        if start > at:
            pieces.append({"t": text[at:start]})
        piece: dict[str, Any] = {"t": text[start:end]}
        if heat and i < len(heat):
            piece["h"] = round(heat[i] / top, 3) if top > 0 else 0.0
            piece["v"] = round(heat[i], 4)
        if i == position:
            piece["m"] = True
        pieces.append(piece)
        at = end
    if at < len(text):
        pieces.append({"t": text[at:]})
    return pieces


def item_view(texts: Texts, pick: store.Pick, classes: tuple[str, ...]) -> dict[str, Any]:
    """One pick as JSON for the page."""
    content = texts.contents[pick.item]
    kind = texts.settings.get("kind", "text")
    shown = display_text(content)
    pieces = (segments(shown, pick.reason, bool(texts.settings.get("tokenized")))
              if kind == "text" else [{"t": shown}])
    predicted = (classes[pick.predicted] if pick.predicted is not None
                 and pick.predicted < len(classes) else None)
    return {"item": pick.item, "id": texts.ids[pick.item], "kind": kind, "segments": pieces,
            "predicted": predicted, "predicted_index": pick.predicted,
            "confidence": None if pick.confidence is None else round(pick.confidence, 4),
            "score": pick.score, "reason": reason_text(texts.data(classes), pick.item,
                                                       pick.reason)}
