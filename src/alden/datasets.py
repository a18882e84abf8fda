"""Data sets: the paper's built-in text sets, tabular sets, and the user's own files."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dataset:
    """Items with their labels (-1 where unknown), as read from disk, not yet split or encoded.

    Text sets fill ``texts``; tabular sets fill ``features`` (float, categoricals one-hot,
    NaN where a value is missing: imputing and scaling are fitted on the pool later).
    """

    name: str
    kind: str  # "text" or "tabular"
    labels: np.ndarray
    label_names: tuple[str, ...]
    ids: list[str]
    texts: list[str] | None = field(default=None, repr=False)
    features: np.ndarray | None = field(default=None, repr=False)
    feature_names: list[str] | None = field(default=None, repr=False)
    tokenized: bool = False  # built-in text sets are already tokenised by their authors

    def __len__(self) -> int:
        return len(self.labels)
