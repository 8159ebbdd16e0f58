"""The one error raised when a dataset's files are absent."""

from __future__ import annotations


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are not where they were looked for and could not be downloaded.

    The message names every place looked in, the exact files expected there, and how to point
    the loader at them (``DataConfig.data_dir`` or the ``LARGEMARGIN_DATA`` environment variable).
    """
