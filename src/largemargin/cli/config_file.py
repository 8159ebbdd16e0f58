"""The ``--config`` option of ``largemargin train``: jsonargparse's, plus one clear error for a
file or a flag written before the loss options moved under ``loss.margin``."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from jsonargparse import ActionConfigFile

from largemargin.core.options import OPTION_NAMES
from largemargin.training.config import check_layout


class RunConfigFile(ActionConfigFile):
    """Reads a YAML run config like ``ActionConfigFile``; a file with a loss option directly
    under ``loss`` (``loss: {gamma: 100}``) fails naming its new key (``loss.margin.gamma``)
    instead of with jsonargparse's "Group 'loss' does not accept option 'gamma'"."""

    def __call__(self, parser, cfg, values, option_string=None):
        path = Path(str(values))
        if path.is_file():
            try:
                content = yaml.safe_load(path.read_text())
            except (yaml.YAMLError, UnicodeDecodeError):
                content = None  # not YAML: jsonargparse reports it
            if isinstance(content, dict):
                try:
                    check_layout(content)
                except ValueError as error:
                    raise argparse.ArgumentError(self, f"{values}: {error}") from error
        super().__call__(parser, cfg, values, option_string)


def check_flag_layout(argv: list[str]) -> None:
    """Raise ValueError naming the new flag of a loss option given directly under ``--loss``
    (``--loss.gamma 100`` or ``--loss.gamma=100``: now ``--loss.margin.gamma``), instead of
    jsonargparse's "unrecognized arguments"."""
    for arg in argv:
        key = arg.split("=", 1)[0]
        if key.startswith("--loss.") and key.removeprefix("--loss.") in OPTION_NAMES:
            name = key.removeprefix("--loss.")
            raise ValueError(
                f"{key}: the loss options moved under loss.margin; write --loss.margin.{name}"
            )
