"""``largemargin train --config``: a file with the loss options directly under ``loss`` (the
layout before ``loss.margin``) fails with one error naming their new keys."""

from __future__ import annotations

import pytest

from largemargin.cli.main import build_parser, main


def test_a_config_with_flat_loss_options_names_their_new_keys(tmp_path, capsys):
    old = tmp_path / "old.yaml"
    old.write_text("loss:\n  kind: large_margin\n  gamma: 100.0\n  top_k: 2\n")
    with pytest.raises(SystemExit) as info:
        main(["train", "--config", str(old)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "loss.gamma: the loss options moved under loss.margin" in err
    assert "write loss.margin.gamma, loss.margin.top_k" in err
    assert not list(tmp_path.glob("runs"))


def test_a_config_with_nested_loss_options_is_read(tmp_path):
    new = tmp_path / "new.yaml"
    new.write_text("loss:\n  kind: large_margin\n  margin: {gamma: 100.0, top_k: 2, norm: 2}\n")
    parser = build_parser()
    cfg = parser.instantiate(parser.parse_args(["train", "--config", str(new)]))["train"]
    assert (cfg.loss.margin.gamma, cfg.loss.margin.top_k, cfg.loss.margin.norm) == (100.0, 2, 2.0)
    assert cfg.loss.margin.alpha == 4.0  # the rest: the training recipe's defaults
