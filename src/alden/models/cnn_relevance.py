"""ALDEN's interpretations (paper Eq. 4) of the TextCNN in closed form, from one forward pass.

With logits z_c = sum_f W[c, f] h_f + b_c and h_f = relu(max over windows p of the map
m_f(p) = sum_j K_f[:, j] . e_(p+j) + bias_f), the relevance of token t for class c is

    (d z_c / d e_t) . e_t = sum_f W[c, f] [h_f > 0] sum_j a_f(t - j) (K_f[:, j] . e_t)

where a_f(p) is 1 at the window that wins the max and 0 elsewhere (tied windows share the
1 equally, as autograd's ``amax`` shares its gradient; ReLU passes none at exactly 0). The
products K_f[:, j] . e_t cost what the convolution costs, so the interpretations of every
class cost about two forward passes instead of one forward and a backward pass per class
(``torch.autograd`` in ``alden.models.quantities``, which the other text models keep). For
probabilities, d p_c = p_c (d z_c - sum_k p_k d z_k), linear in the logits' relevances.
The maps, maxima and logits come from the model's own ``window_maps`` and head, so wins,
ties and ReLU zeros are the ones autograd sees; only the sums' rounding order differs.
"""

from __future__ import annotations

import torch

from alden.errors import AldenError
from alden.models.networks import TextCNN


def _through_windows(e: torch.Tensor, kernel: torch.Tensor, maps: torch.Tensor,
                     top: torch.Tensor, out: torch.Tensor) -> None:
    """Add to ``out`` (B, L, n_maps) each map's gradient share times kernel[:, :, j] . e_t
    at every token t = p + j of its winning window p (the padded embeddings ``e``: B, L, d;
    ``maps``: B, T, n_maps; ``top``: their maxima, B, n_maps)."""
    n_maps, dim, width = kernel.shape
    wins = maps == top.unsqueeze(1)  # masked windows (-inf) never win
    # amax shares its gradient among tied windows; ReLU passes none at 0 or below.
    share = wins * ((top > 0).to(e.dtype) / wins.sum(1)).unsqueeze(1)  # (B, T, n_maps)
    n_windows = share.shape[1]
    tokens, columns = e.reshape(-1, dim), kernel.permute(2, 1, 0).contiguous()  # (w, d, maps)
    # One column at a time, dense though a map has one winner or a few: on CPU this took
    # 20-30% less than one matmul for all columns, and half the time of gathering the
    # winners' tokens and scattering them back.
    for j in range(width):  # window p reaches token p + j through the kernel's column j
        products = (tokens @ columns[j]).reshape(e.shape[0], e.shape[1], n_maps)
        out[:, j:j + n_windows].addcmul_(share, products[:, j:j + n_windows])


@torch.no_grad()
def textcnn_relevance(model: TextCNN, e: torch.Tensor, mask: torch.Tensor, output: str
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's logits ``(B, C)``, as its forward pass gives them, and every token's
    relevance ``(B, L, C)``: (d y_c / d e_t) . e_t with y the probabilities ("proba") or the
    logits ("logits"), as autograd gives it in eval mode (no graph is built)."""
    if model.training:
        raise AldenError("the TextCNN's closed-form interpretations need eval mode "
                         "(dropout off); call model.eval() first")
    padded = model.padded_embeddings(e, mask)
    n_maps = model.config.n_maps
    through = padded.new_zeros(padded.shape[0], padded.shape[1], n_maps * len(model.convs))
    pooled = []
    for i, (kernel, maps) in enumerate(model.window_maps(padded, mask.sum(1))):
        top = maps.amax(1)  # (B, n_maps), as the forward pass pools
        pooled.append(torch.relu(top))
        _through_windows(padded, kernel, maps, top, through[:, :, i * n_maps:(i + 1) * n_maps])
    logits = model.head(model.dropout(torch.cat(pooled, 1)))
    relevance = (through[:, :e.shape[1]] @ model.head.weight.t())  # (B, L, C)
    if output == "logits":
        return logits, relevance
    p = torch.softmax(logits, dim=-1)
    mean = (relevance * p.unsqueeze(1)).sum(-1, keepdim=True)
    return logits, p.unsqueeze(1) * (relevance - mean)
