"""Fixtures for every test folder: the read-only real datasets beside the checkout
(``../shared/data``); a test needing an absent one is skipped with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _shared(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"real data {path} is absent (it lives in ../shared/data beside the checkout)")
    return path


@pytest.fixture
def mnist_dir() -> Path:
    return _shared("mnist")


@pytest.fixture
def cifar_zip() -> Path:
    return _shared("cifar10-jpeg.zip")


@pytest.fixture
def imagenet_dir() -> Path:
    return _shared("imagenet-sample")
