"""The pooled embeddings of piece-id rows through a (fine-tuned) EncoderClassifier."""

import numpy as np
import torch


def embed(model, rows, batch=128):
    """Pooled embeddings of ``rows`` in batches, no gradients."""
    with torch.no_grad():
        return np.concatenate([model.features(torch.as_tensor(rows[i : i + batch])).numpy()
                               for i in range(0, len(rows), batch)])
