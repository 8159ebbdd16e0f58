"""Opening image files by their relative path, in a directory or inside a zip archive.

Both readers are picklable and safe in DataLoader worker processes: the zip reader opens the
archive lazily, once per process (a forked worker never reuses its parent's file handle, and a
spawned worker receives the path only).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from PIL import Image


class DirectoryReader:
    """Reads ``<root>/<relative path>`` as an RGB PIL image."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __call__(self, relative: str) -> Image.Image:
        with Image.open(self.root / relative) as image:
            return image.convert("RGB")


class ZipReader:
    """Reads the member ``relative`` of the zip archive at ``path`` as an RGB PIL image."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        self._pid: int | None = None

    def _archive(self) -> zipfile.ZipFile:
        if self._zip is None or self._pid != os.getpid():
            self._zip = zipfile.ZipFile(self.path)
            self._pid = os.getpid()
        return self._zip

    def __call__(self, relative: str) -> Image.Image:
        with Image.open(io.BytesIO(self._archive().read(relative))) as image:
            return image.convert("RGB")

    def __getstate__(self) -> dict:
        return {"path": self.path, "_zip": None, "_pid": None}
