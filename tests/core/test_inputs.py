"""Bad input: one clear error per row, naming the argument and what was expected."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import largemargin as lm
from largemargin.core.inputs import check_inputs


@pytest.fixture
def case():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5))
    x = torch.randn(3, 4, requires_grad=True)
    hidden = model[1](model[0](x))
    logits = model[2](hidden)
    return logits, torch.tensor([0, 1, 2]), [x, hidden]


def _call(case, **kw):
    logits, target, layers = case
    args = {"logits": logits, "target": target, "layers": layers}
    options = {k: v for k, v in kw.items() if k not in args}
    args.update({k: v for k, v in kw.items() if k in args})
    return lm.large_margin_loss(args["logits"], args["target"], args["layers"], **options)


ROWS = [
    # (id, overrides, exception, message fragment)
    ("logits 1-D", lambda c: {"logits": c[0][:, 0]}, ValueError, "logits must be 2-D"),
    ("logits int", lambda c: {"logits": c[0].long()}, TypeError, "logits must be a floating"),
    ("target shape", lambda c: {"target": c[1][:2]}, ValueError, "target must have shape"),
    ("target 2-D", lambda c: {"target": c[1][:, None]}, ValueError, "target must have shape"),
    ("target dtype", lambda c: {"target": c[1].float()}, TypeError, "target must hold int64"),
    ("target int32", lambda c: {"target": c[1].int()}, TypeError, "target must hold int64"),
    ("label too big", lambda c: {"target": torch.tensor([0, 1, 5])}, ValueError, "[0, 5)"),
    ("label negative", lambda c: {"target": torch.tensor([0, -1, 2])}, ValueError, "[0, 5)"),
    ("layer batch", lambda c: {"layers": [c[2][0][:2]]}, ValueError, "layers[0] must have the"),
    ("empty layers", lambda c: {"layers": []}, ValueError, "layers must name at least one"),
    ("layers tensor", lambda c: {"layers": c[2][0]}, TypeError, "layers must be a list"),
    (
        "layer without grad",
        lambda c: {"layers": [c[2][0], torch.zeros(3, 6)]},
        ValueError,
        "layers[1] does not require grad",
    ),
    (
        "unused layer",
        lambda c: {"layers": [c[2][0], torch.zeros(3, 6, requires_grad=True)]},
        ValueError,
        "layers[1] is not used to compute logits",
    ),
    (
        "non-finite logits",
        lambda c: {"logits": c[0] * torch.tensor([1.0, float("inf"), 1.0])[:, None]},
        ValueError,
        "logits contain NaN or inf",
    ),
    ("gamma zero", lambda c: {"gamma": 0.0}, ValueError, "gamma must be a finite number > 0"),
    ("gamma negative", lambda c: {"gamma": -1.0}, ValueError, "gamma must be"),
    ("gamma list length", lambda c: {"gamma": [1.0, 2.0, 3.0]}, ValueError, "gamma has 3"),
    ("gamma list entry", lambda c: {"gamma": [1.0, -2.0]}, ValueError, "gamma[1]"),
    ("alpha zero", lambda c: {"alpha": 0.0}, ValueError, "alpha must be"),
    ("alpha negative", lambda c: {"alpha": -2.0}, ValueError, "alpha must be"),
    ("top_k zero", lambda c: {"top_k": 0}, ValueError, "top_k must be >= 1"),
    ("top_k = C", lambda c: {"top_k": 5}, ValueError, "top_k must be in [1, C-1] = [1, 4]"),
    ("top_k float", lambda c: {"top_k": 1.0}, TypeError, "top_k must be an int"),
    ("p below 1", lambda c: {"norm": 0.5}, ValueError, "norm must be >= 1"),
    ("p string", lambda c: {"norm": "two"}, ValueError, "norm must be a number >= 1 or 'inf'"),
    ("aggregation", lambda c: {"aggregation": "max"}, ValueError, "aggregation must be one of"),
    ("score", lambda c: {"score": "softmax"}, ValueError, "score must be one of"),
    ("reduction", lambda c: {"reduction": "avg"}, ValueError, "reduction must be one of"),
    ("norm_scale length", lambda c: {"norm_scale": [1.0]}, ValueError, "norm_scale has 1"),
    ("norm_scale zero", lambda c: {"norm_scale": [1.0, 0.0]}, ValueError, "norm_scale[1]"),
    ("norm_scale string", lambda c: {"norm_scale": "size"}, ValueError, "norm_scale must be"),
    ("epsilon zero", lambda c: {"epsilon": 0.0}, ValueError, "epsilon must be"),
    ("second_order str", lambda c: {"second_order": "yes"}, TypeError, "second_order"),
]


@pytest.mark.parametrize(
    ("overrides", "exc", "fragment"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_bad_input_raises_a_clear_error(case, overrides, exc, fragment):
    with pytest.raises(exc) as info:
        _call(case, **overrides(case))
    assert fragment in str(info.value)


def test_module_rejects_bad_options_at_construction():
    with pytest.raises(ValueError, match="alpha must be"):
        lm.LargeMarginLoss(alpha=0)
    with pytest.raises(ValueError, match="aggregation must be one of"):
        lm.LargeMarginLoss(aggregation="mean")


def test_margin_distances_checks_its_inputs_too(case):
    logits, target, layers = case
    with pytest.raises(ValueError, match="top_k must be in"):
        lm.margin_distances(logits, target, layers, top_k=9)
    with pytest.raises(ValueError, match="target labels must be in"):
        lm.margin_distances(logits, torch.tensor([0, 1, 7]), layers)


def test_accepts_inf_in_every_spelling(case):
    values = [_call(case, norm=n).item() for n in (float("inf"), "inf", "INF", 1e400)]
    assert len(set(values)) == 1


SYNCS = ("__bool__", "item", "tolist", "__float__", "__int__")
"""The Tensor methods that read a value back to the host: on a GPU each one waits for the device."""


@pytest.fixture
def host_reads(monkeypatch):
    """Counts calls of ``SYNCS`` on tensors while the test runs."""
    calls: list[str] = []
    for name in SYNCS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return calls


@pytest.mark.parametrize("second_order", [False, True])
def test_loss_step_reads_nothing_back_when_value_checks_are_off(case, host_reads, second_order):
    logits, target, layers = case
    loss = lm.large_margin_loss(
        logits, target, layers, top_k=2, second_order=second_order, check_values=False
    )
    loss.backward(retain_graph=True)
    assert host_reads == []  # forward and backward: no value read, hence no sync on a GPU
    lm.large_margin_loss(logits, target, layers, top_k=2)  # default on CPU: values checked
    assert host_reads.count("__bool__") == 2  # labels in range, logits finite


def test_value_checks_are_skipped_by_default_off_the_cpu(host_reads):
    # a "meta" tensor holds no data, like a GPU tensor from the host's side: reading its values
    # raises, so passing shows that the default (check_values=None) did not read them
    logits = torch.empty(3, 5, device="meta")
    layers = [torch.empty(3, 4, device="meta", requires_grad=True)]
    bad_labels = torch.empty(3, dtype=torch.int64, device="meta")
    assert check_inputs(logits, bad_labels, layers, top_k=1) == layers
    assert host_reads == []
    with pytest.raises(ValueError, match="top_k must be in"):  # structure still checked
        check_inputs(logits, bad_labels, layers, top_k=5)
    with pytest.raises(RuntimeError, match="meta"):  # asked for, values are read anywhere
        check_inputs(logits, bad_labels, layers, top_k=1, check_values=True)


@pytest.mark.parametrize(("check_values", "raises"), [(None, True), (True, True), (False, False)])
def test_value_checks_on_the_cpu_follow_check_values(case, check_values, raises):
    logits, _, layers = case
    bad = torch.tensor([0, 1, 9])
    if raises:
        with pytest.raises(ValueError, match=r"target labels must be in \[0, 5\), found 9"):
            lm.margin_distances(logits, bad, layers, check_values=check_values)
    else:  # nothing reads the labels' values: the caller vouched for them
        check_inputs(logits, bad, layers, top_k=1, check_values=False)


def test_check_values_must_be_none_or_a_bool(case):
    logits, target, layers = case
    with pytest.raises(TypeError, match="check_values must be None, True or False"):
        lm.large_margin_loss(logits, target, layers, check_values="yes")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_loss_step_forces_no_sync():
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5)).cuda()
    x = torch.randn(8, 4, device="cuda")
    y = torch.randint(0, 5, (8,), device="cuda")
    logits, layers = lm.forward_with_layers(model, x, ["input", "1"])
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        lm.large_margin_loss(logits, y, layers, top_k=2, gamma=[1.0, 2.0]).backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
