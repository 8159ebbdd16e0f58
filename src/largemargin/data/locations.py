"""Where datasets are looked for and where torchvision downloads them.

Order: the ``data_dir`` argument, else the ``LARGEMARGIN_DATA`` environment variable (an empty
value counts as unset), else the per-user cache ``$XDG_CACHE_HOME/largemargin/data`` (by default
``~/.cache/largemargin/data``). The same folder is the download target when files are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "LARGEMARGIN_DATA"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/largemargin/data``, or ``~/.cache/largemargin/data`` when it is unset."""
    cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache).expanduser() / "largemargin" / "data"


def resolve_data_root(data_dir: str | None) -> tuple[Path, str]:
    """The data root and a phrase saying where it came from (for error messages and records)."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "data_dir"
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser(), f"${ENV_VAR}"
    return default_cache_dir(), "the default cache (no data_dir, no $LARGEMARGIN_DATA)"
