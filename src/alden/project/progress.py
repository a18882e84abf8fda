"""How a command tells its caller how far it is: the step's text, with counts when it has them.

A ``Say`` hears ``say(text)`` for a step whose length is unknown and ``say(text, done, total)``
for one that counts (items encoded, epochs trained): the terminal shows the text, the web job
bar the fraction ``done / total`` where there is one and says it does not know otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from alden.models.contract import Learner


class Say(Protocol):
    def __call__(self, text: str, done: int | None = None, total: int | None = None) -> None:
        ...


def silent(text: str, done: int | None = None, total: int | None = None) -> None:
    """No progress display."""


def encoding(say: Say) -> Callable[[int, int], None]:
    """An encoder's ``on_progress(done, total)`` told as "encoding 1,200 of 3,300 texts"."""
    return lambda done, total: say(f"encoding {done:,} of {total:,} texts", done, total)


def epochs(say: Say, what: str, *, model: int = 0, models: int = 1
           ) -> Callable[[Learner, dict[str, float]], None]:
    """A learner's ``on_epoch`` told as "{what}: epoch 3 of 20", counted over the step's
    ``models`` models of as many epochs (this one is number ``model``, from 0); a fine-tune's
    steps (``+setfit``) as "{what}: fine-tuning step 40 of 200"."""
    def on_epoch(learner: Learner, record: dict[str, float]) -> None:
        if "steps" in record:  # a +setfit fine-tune's steps; step 0 says how long it should take
            step, steps = int(record["step"]), int(record["steps"])
            if step == 0:
                say(f"{what}: fine-tuning, {steps} steps, about "
                    f"{record['expected_seconds'] / 60:.1f} min")
            else:
                say(f"{what}: fine-tuning step {step} of {steps}", step, steps)
            return
        epoch, of = int(record["epoch"]), int(learner.config.fixed_epochs)
        say(f"{what}: epoch {epoch} of {of}", model * of + epoch, models * of)
    return on_epoch
