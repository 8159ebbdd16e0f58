"""Reading ``largemargin train`` checkpoints without running anything a file holds.

A checkpoint is Lightning's format: a zip of tensors plus a pickle of everything else. It is read
with ``torch.load(weights_only=True)``, whose unpickler builds only tensors and plain Python
values (dict, list, tuple, str, bytes, int, float, bool, None) and refuses every other class or
function a file names, so a crafted file cannot run code while it is read. The project's own
checkpoints need nothing beyond that (no extra safe globals): ``MarginClassifier`` stores its
RNG states as plain values and the run's config as a plain dict, and Lightning's loop, callback,
optimiser and schedule states are dicts of numbers, strings and tensors.

Every checkpoint the project reads goes through ``read_checkpoint``: evaluation, attacks,
margins (``checkpoint_eval.load_checkpoint``) and ``train --resume`` (``run.py`` checks the file
with it before Lightning loads it).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import torch

EXPECTED = "a checkpoint written by `largemargin train`"


def _unreadable(error: Exception) -> str:
    """Why torch could not read the file, in a few words (torch's own message is a paragraph)."""
    refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
    if refused:
        return (
            f"it names the Python object {refused.group(1)}, which is neither a tensor nor a "
            "plain value: refused, nothing in the file was run"
        )
    return f"it is not a PyTorch checkpoint file ({type(error).__name__})"


def _content_problem(ckpt: object) -> str | None:
    """What makes an unpickled ``ckpt`` not a ``largemargin train`` checkpoint, or None."""
    if not isinstance(ckpt, dict):
        return f"it holds a {type(ckpt).__name__}, not a dict"
    record = ckpt.get("largemargin_config")
    if not isinstance(record, dict):
        return "it has no largemargin_config entry"
    shape = record.get("model_shape")
    if not (
        isinstance(shape, dict)
        and all(type(shape.get(k)) is int for k in ("num_classes", "in_channels"))
    ):
        return "its largemargin_config lacks model_shape (num_classes, in_channels)"
    state = ckpt.get("state_dict")
    if not (
        isinstance(state, dict)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())
    ):
        return "its state_dict is not a dict of named tensors"
    return None


def read_checkpoint(path: str | Path) -> dict:
    """The content of the ``largemargin train`` checkpoint at ``path``, on the CPU.

    Read with weights-only unpickling (see the module docstring): only tensors and plain values
    are built, whatever the file holds. Raises ValueError naming ``checkpoint=<path>`` and what
    was expected when the file is absent, is not a PyTorch checkpoint, names any other Python
    object, or lacks the entries ``largemargin train`` writes (``largemargin_config`` with its
    ``model_shape``, and a ``state_dict`` of tensors).
    """
    path = Path(path)
    where = f"checkpoint={str(path)!r}"
    if not path.is_file():
        raise ValueError(f"{where}: no such file; expected {EXPECTED}")
    try:
        with warnings.catch_warnings():  # torch warns of pickle protocols it may not read
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any failure to parse a file means it is not a checkpoint
        raise ValueError(f"{where}: {_unreadable(error)}; expected {EXPECTED}") from error
    problem = _content_problem(ckpt)
    if problem is not None:
        raise ValueError(f"{where}: {problem}; expected {EXPECTED}")
    return ckpt
