"""A saved learner's file, for every family: one torch file holding a JSON description
(format, version, ``family``, model name, config, ...) and tensors, never a pickled object.

``write_learner`` serialises into memory first and then replaces the file whole, so a full
disk fails as an error and leaves any previous file as it was. ``read_learner`` loads with
``weights_only=True`` and turns every way a file can be wrong into one ``AldenError``;
``alden.models.families.load_learner`` then hands the payload to the family's class.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from alden.atomic import replacing
from alden.errors import AldenError
from alden.models.contract import TrainConfig

FORMAT = "alden-learner"
FORMAT_VERSION = 1


def write_learner(path: str | os.PathLike, description: dict[str, Any],
                  tensors: dict[str, Any]) -> None:
    """Write ``description`` (JSON, with the format and version added) and ``tensors`` (a
    state dict under "state_dict", any other tensors beside it) to ``path``, atomically."""
    described = {"format": FORMAT, "version": FORMAT_VERSION, **description}
    payload = {"description": json.dumps(described), **tensors}
    buffer = io.BytesIO()  # serialised in memory: a full disk then fails as an OSError
    torch.save(payload, buffer)
    with replacing(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def read_learner(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """(payload, description) of a file ``write_learner`` wrote; nothing is unpickled."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        description = json.loads(payload["description"])
    except FileNotFoundError:
        raise AldenError(f"{path}: no such learner file") from None
    except pickle.UnpicklingError as error:  # Python objects besides the weights?
        if "Unsupported global" not in str(error):
            raise AldenError(f"{path}: not a saved alden learner (not a torch file, or a "
                             f"damaged one)") from None
        found = re.search(r"GLOBAL (\S+)", str(error))
        what = f" ({found.group(1)})" if found else ""
        raise AldenError(f"{path}: holds Python objects{what} besides weights, and loading "
                         f"them could run any code; alden loads weights only, so it "
                         f"does not open this file") from None
    except Exception as error:  # a damaged or foreign file, whatever torch says
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise AldenError(f"{path}: not a saved alden learner ({reason or type(error).__name__})"
                         ) from None
    if description.get("format") != FORMAT or description.get("version") != FORMAT_VERSION:
        raise AldenError(f"{path}: not a saved alden learner of version {FORMAT_VERSION}")
    return payload, description


def saved_config(description: dict[str, Any]) -> TrainConfig:
    """The TrainConfig a description holds: unknown keys (a newer alden's) are skipped and
    JSON's lists become tuples again."""
    known = {f.name for f in fields(TrainConfig)}
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                              for k, v in description["config"].items() if k in known}
    return TrainConfig(**values)


def load_weights(module: torch.nn.Module, state_dict: dict[str, Any], path: str | os.PathLike
                 ) -> None:
    """``module.load_state_dict(state_dict)``, an AldenError naming ``path`` if they differ."""
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as error:
        raise AldenError(f"{path}: weights do not fit the saved model ({error})") from None
