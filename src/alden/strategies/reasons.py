"""Why an item was picked, as data (``Reason``), and its one rendering to text (``describe``).

Strategies return reasons as data; the edges (CLI, batch files, the labeling page) render
them, and the project stores them as JSON, so nothing parses a sentence back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace

from alden.errors import AldenError


@dataclass(frozen=True)
class Reason:
    """One pick's reason. ``kind`` names the measure (a strategy name, or a cold start's:
    "random_start", "cold_start" (k-center), "typiclust", "probcover"); ``score`` is its
    value. The rest is filled where the strategy has it:
    ``proba`` the model's class probabilities (BALD: their mean over dropout samples);
    ``word`` and ``position`` (0-based, in the item's words) the word that made ALDEN pick
    the item, ``compared_word`` the labeled word it was compared with (the same word, or the
    nearest labeled one by embedding); ``first`` marks BADGE's first draw and the cold
    start's central item; ``samples`` counts BALD's dropout passes; ``words`` and
    ``interpretations`` carry each word of the item and its interpretation's size for a heat
    map (ALDEN, where the caller asks for it); ``subpool`` says the item was a candidate of a
    subpool (``strategies.subpool``): "neighbour" of a labeled item or a "random" draw."""

    kind: str
    score: float
    proba: tuple[float, ...] | None = None
    word: str | None = None
    position: int | None = None
    compared_word: str | None = None
    first: bool = False
    samples: int | None = None
    words: tuple[str, ...] | None = None
    interpretations: tuple[float, ...] | None = None
    subpool: str | None = None

    def to_json(self) -> str:
        """Compact JSON without the empty fields."""
        data = {k: v for k, v in asdict(self).items() if v not in (None, False)}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Reason:
        """The reason ``to_json`` wrote; an error if the text is not one."""
        try:
            data = json.loads(text)
            names = {f.name for f in fields(cls)}
            if not isinstance(data, dict) or not set(data) <= names:
                raise ValueError
            for key in ("proba", "words", "interpretations"):
                if data.get(key) is not None:
                    data[key] = tuple(data[key])
            return cls(**data)
        except (ValueError, TypeError):
            raise AldenError(f"not a stored reason: {text[:80]!r}") from None


def stored_reason(value: str | None) -> Reason | str | None:
    """A reason read from a project: a ``Reason`` if stored as JSON, else the text that
    projects made before reasons were data."""
    if value is None or not value.startswith("{"):
        return value
    try:
        return Reason.from_json(value)
    except AldenError:
        return value


def _proba_text(proba: tuple[float, ...], classes: tuple[str, ...], digits: int = 2) -> str:
    """'p(neg)=0.51, p(pos)=0.49', the three most likely classes at most."""
    order = sorted(range(len(proba)), key=lambda c: (-proba[c], c))[:3]
    return ", ".join(f"p({classes[c] if c < len(classes) else c})={proba[c]:.{digits}f}"
                     for c in order)


def _torn(proba: tuple[float, ...], classes: tuple[str, ...]) -> str:
    """'the model is torn between neg 0.51 and pos 0.49': its two likeliest classes."""
    a, b = sorted(range(len(proba)), key=lambda c: (-proba[c], c))[:2]
    name = [classes[c] if c < len(classes) else str(c) for c in (a, b)]
    return f"the model is torn between {name[0]} {proba[a]:.2f} and {name[1]} {proba[b]:.2f}"


def describe(reason: Reason | str | None, classes: tuple[str, ...] = (), item: str = "item"
             ) -> str:
    """The reason in words a person reads, e.g. "'than' is used here unlike anywhere it is
    labeled (interpretation distance 0.83)"; ``item`` names an item ("sentence", "row").
    Text (a reason stored before reasons were data) is returned as it is."""
    if reason is None or isinstance(reason, str):
        return reason or ""
    if reason.subpool is not None:
        whence = (f"the subpool of labeled {item}s' near neighbours"
                  if reason.subpool == "neighbour" else "the subpool's random share")
        return describe(replace(reason, subpool=None), classes, item) + f"; from {whence}"
    r, s = reason, reason.score
    with_p = f" ({_proba_text(r.proba, classes)})" if r.proba else ""
    if r.kind == "margin":  # near 0 on a fresh model: digits enough to tell picks apart
        probabilities = f" ({_proba_text(r.proba, classes, 3)})" if r.proba else ""
        return f"margin {s:.3g}{probabilities}"
    if r.kind in ("entropy", "least_confidence"):
        return f"{r.kind.replace('_', ' ')} {s:.2f}{with_p}"
    if r.kind == "cluster_margin":
        torn = _torn(r.proba, classes) if r.proba else f"margin {s:.2f}"
        if r.first:
            return f"{torn}, and no picked {item} is near it"
        return f"{torn}; its group of similar uncertain {item}s gave another pick too"
    if r.kind == "bald":
        over = f" over {r.samples} dropout samples" if r.samples else ""
        mean = f" (mean {_proba_text(r.proba, classes)})" if r.proba else ""
        return f"mutual information {s:.3f}{over}{mean}"
    if r.kind == "coreset":
        return f"hidden representation {s:.3g} away from the nearest labeled or picked item"
    if r.kind == "badge":
        if r.first:
            return f"largest gradient embedding (norm {s:.3g})"
        return f"gradient embedding {s:.3g} away from the nearest earlier pick (k-means++ draw)"
    if r.kind == "egl_word":
        return f"expected gradient length {s:.3g} of its strongest word's embedding"
    if r.kind == "egl":
        return f"expected gradient length {s:.3g} with respect to its features"
    if r.kind == "dami":
        return f"interpretation {s:.3g} away from the nearest labeled or picked item's"
    if r.kind == "alden":
        return _describe_alden(r)
    if r.kind == "random_start":
        return "drawn at random to start: no labels yet"
    if r.kind == "typiclust":
        return f"typical of a group of {s:.0f} similar {item}s no one has labeled"
    if r.kind == "probcover":
        return (f"close to {s:.0f} {item}s that no labeled or picked {item} is close to "
                f"(covers the most)")
    if r.kind == "cold_start":
        if r.first:
            return f"cold start: the {item} nearest the centre of all (distance {s:.3g})"
        return (f"cold start: the {item} farthest from every item labeled or picked before "
                f"it (distance {s:.3g})")
    return f"{r.kind} {s:.3g}"


def _describe_alden(r: Reason) -> str:
    if r.word is None:
        return "no words (picked once every item with words was more like the labeled ones)"
    where = f" (word {r.position + 1})" if r.position is not None else ""
    if r.compared_word in (None, r.word):
        return (f"'{r.word}'{where} is used here unlike anywhere it is labeled "
                f"(interpretation distance {r.score:.3g})")
    return (f"'{r.word}'{where} is in no labeled item; it is used here unlike the nearest "
            f"labeled word, '{r.compared_word}' (interpretation distance {r.score:.3g})")
