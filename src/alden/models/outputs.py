"""Which model output an interpretation differentiates: class probabilities or logits.

One default for quantities, learner and strategies. Probabilities, by learning curves: with
the TextCNN on Subj and MR, ALDEN on probability interpretations scored 1.0 and 0.4 points
more normalised AUC over 3 seeds (docs/results.md), and on five held-out sets (two text with
the TextCNN, three tables with the MLP, 3 seeds each) probabilities gave ALDEN/DAMI the higher
AUC on 4 of 5 (0.1 to 2.2 points; DAMI on logits fell below random on one table). Logits
recover Figure 1's linear regions better (ARI 0.87 vs 0.05), so they stay one option away.
Importing this module imports no torch.
"""

from __future__ import annotations

from alden.errors import AldenError

OUTPUTS = ("proba", "logits")
DEFAULT_OUTPUT = "proba"


def check_output(output: str) -> str:
    """``output`` itself when it is one of ``OUTPUTS``, else an error naming the choices."""
    if output not in OUTPUTS:
        raise AldenError(f"output must be one of {', '.join(OUTPUTS)}; got {output!r}")
    return output
