"""pick_device: the GPU by default when there is one, and one clear error for a bad device."""

from __future__ import annotations

import pytest
import torch

from largemargin.torch_utils import pick_device


@pytest.mark.parametrize("available", [True, False])
def test_default_is_cuda_exactly_when_available(monkeypatch, available):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    assert pick_device(None) == torch.device("cuda" if available else "cpu")


def test_an_explicit_device_is_kept():
    assert pick_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("device", ["gpu0", "cpu:x", ""])
def test_a_device_torch_does_not_know_is_a_value_error(device):
    with pytest.raises(ValueError, match=rf"device={device!r}: expected a torch device"):
        pick_device(device)


def test_cuda_without_a_cuda_device_is_a_value_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda:1': no CUDA device is available"):
        pick_device("cuda:1")
