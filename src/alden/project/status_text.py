"""`alden status` as text: the check-set accuracy first, then the stopping advice, then
cross-validation on the picked labels with its warning, the curve in round order, the rounds.
The status page shows the same ``Status`` (``alden.project.web.status_routes``)."""

from __future__ import annotations

from alden.cli_types import plural
from alden.project.status import Status
from alden.project.stopping_status import advice_lines, check_lines


def counts_lines(s: Status) -> list[str]:
    """Items, the training labels by class (check items counted apart), classes without any."""
    labeled = sum(s.counts.values())
    aside = f" for training, {s.check_labeled} labeled check items" if s.check_items else ""
    lines = [f"{plural(s.items, 'item')}, {labeled} labeled{aside}, "
             f"{s.items - labeled - s.check_labeled} unlabeled"]
    for name, n in s.counts.items():
        share = f"{n / labeled:.0%}" if labeled else "-"
        lines.append(f"  {name:<20} {n:6d}  {share:>4}")
    return lines + unlabeled_class_lines(s.unlabeled_classes)


def unlabeled_class_lines(classes: tuple[str, ...]) -> list[str]:
    """The warning for classes no training label is of: a model never predicts them."""
    if not classes:
        return []
    names = ", ".join(repr(c) for c in classes)
    return [f"warning: no labels yet for {plural(len(classes), 'class')} ({names}): the "
            f"model never predicts {'it' if len(classes) == 1 else 'them'}; label items "
            f"of {'it' if len(classes) == 1 else 'each'} (the label page or a batch file)"]


def accuracy_lines(s: Status) -> list[str]:
    """Cross-validation on the picked labels, with what it is worth, and its curve."""
    if s.accuracy is None:
        lines = [f"cross-validation: {s.why_no_accuracy}"]
    else:
        a = s.accuracy
        lines = [f"cross-validation on the picked labels ({s.model}, {a.folds} folds, "
                 f"{plural(a.n_labeled, 'label')}): {a.accuracy:.3f} ± {a.std:.3f} "
                 f"(majority class: {s.majority:.3f})"]
    if s.stopping is not None and s.accuracy is not None:
        lines.append(f"  note: {s.stopping.cv_note}")
    for round_, n, acc, std in s.curve:
        lines.append(f"  after round {round_}: {plural(n, 'label')}, accuracy "
                     f"{acc:.3f} ± {std:.3f}")
    if s.not_evaluated:
        rounds = ", ".join(map(str, s.not_evaluated))
        lines.append(f"  not evaluated yet: {plural(len(s.not_evaluated), 'round')} "
                     f"({rounds}); `alden status --full-curve` evaluates them")
    return lines


def status_lines(s: Status) -> list[str]:
    """Everything `alden status` prints, in the order the status page shows it."""
    lines = counts_lines(s)
    if s.stopping is not None:
        lines += check_lines(s.stopping)
        lines += [f"  on {plural(p.labels, 'training label')}: check accuracy "
                  f"{p.check.accuracy:.3f} on {p.check.n} ({p.check.low:.3f}-"
                  f"{p.check.high:.3f})" for p in s.stopping.curve]
        lines += advice_lines(s.stopping)
    lines += accuracy_lines(s)
    if s.plot:
        lines.append(f"learning curve: {s.plot}")
    lines.append(f"rounds: {len(s.rounds)}")
    for r in s.rounds:
        lines.append(f"  round {r['round']}: {r['at']}  {r['strategy']:<10} {r['size']} "
                     f"picked, {r['labeled_now']} labeled now (model trained on "
                     f"{plural(r['n_labeled'], 'label')})")
    if s.latest_model:
        m = s.latest_model
        lines.append(f"latest model: {m['file']} ({m['model']}, "
                     f"{plural(m['n_labeled'], 'label')}, {m['at']})")
    return lines
