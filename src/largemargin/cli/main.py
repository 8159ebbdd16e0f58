"""The `largemargin` command: train, evaluate, attack, margins, demo, reproduce.

largemargin train --config configs/mnist-15min.yaml --data.data_dir ../shared/data/mnist
largemargin train --loss.kind cross_entropy --trainer.epochs 3      # the bundled MNIST subset
largemargin evaluate runs/<run>/checkpoints/last.ckpt
largemargin attack --checkpoint runs/<run>/checkpoints/last.ckpt --epsilons '[0.1, 0.2]'
largemargin margins --checkpoints '[runs/a/checkpoints/last.ckpt, runs/b/checkpoints/last.ckpt]'
largemargin demo
largemargin reproduce noisy-labels --quick --data.data_dir ../shared/data/mnist
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import NamedTuple

from jsonargparse import ActionYesNo, ArgumentParser, Namespace

from largemargin import __version__

# The subcommands import what they need (torch, Lightning) when they are built or run, so that
# `largemargin --version` and `largemargin --help` answer without loading them.


def _train_parser() -> ArgumentParser:
    from largemargin.cli.config_file import RunConfigFile
    from largemargin.training.config import RunConfig

    parser = ArgumentParser(
        description="Train a classifier (large margin, cross-entropy or hinge loss). Settings come "
        "from --config YAML files and flags, later ones overriding earlier ones; with none, the "
        "paper's MNIST network and loss on the bundled MNIST subset (Adam, one-cycle).",
        default_env=False,
    )
    parser.add_argument("--config", action=RunConfigFile, help="a YAML file of settings")
    parser.add_class_arguments(RunConfig, as_group=False)
    return parser


def _evaluate_parser() -> ArgumentParser:
    parser = ArgumentParser(
        description="Test accuracy and the mean and median logit margin per margin layer (the "
        "first-order distance to the closest competitor with logit scores, in the layer's units "
        "and the run's lp norm) of a checkpoint written by `largemargin train`."
    )
    parser.add_argument("checkpoint", type=str, help="path to a .ckpt file")
    _add_data_flags(parser, aliases=True)
    parser.add_argument("--batch_size", type=int, default=1000, help="images per batch")
    parser.add_argument(
        "--device",
        type=str | None,
        default=None,
        help="torch device to evaluate on (default: cuda when available, else cpu)",
    )
    parser.add_argument(
        "--trust_model_code",
        type=bool,
        default=False,
        help="rebuild a model given by import path (package.module:factory), which imports and "
        "runs that code: only for checkpoints whose model code you trust",
    )
    return parser


def _add_data_flags(parser: ArgumentParser, aliases: bool = False) -> None:
    """``--data.name`` and ``--data.data_dir`` of the commands that read a checkpoint: the run's
    own dataset by default, moved with ``--data.data_dir`` alone, or another dataset by name
    (``_data_choice``). ``aliases``: evaluate's deprecated ``--data_name`` / ``--data_dir``."""
    parser.add_argument(
        "--data.name",
        *(["--data_name"] if aliases else []),
        type=str | None,
        default=None,
        help="another dataset to evaluate on (default: the run's own)"
        + ("; --data_name: deprecated spelling" if aliases else ""),
    )
    parser.add_argument(
        "--data.data_dir",
        *(["--data_dir"] if aliases else []),
        type=str | None,
        default=None,
        help="where that dataset's files are; alone: where the run's own dataset is now"
        + ("; --data_dir: deprecated spelling" if aliases else ""),
    )


def _data_choice(sub: Namespace) -> dict:
    """``data`` and ``data_dir`` for ``checkpoint_eval.evaluation_data`` from the data flags,
    which are removed from ``sub``."""
    from largemargin.data import DataConfig

    flags = sub.pop("data")
    if flags.name is None:
        return {"data": None, "data_dir": flags.data_dir}
    return {
        "data": DataConfig(name=flags.name, data_dir=flags.data_dir, download=False),
        "data_dir": None,
    }


def _config_parser(
    config_class: type, description: str, data_flags: bool = False
) -> ArgumentParser:
    """A subcommand whose flags are the fields of the dataclass ``config_class``; with
    ``data_flags``, its ``data`` and ``data_dir`` fields come from ``_add_data_flags``."""
    parser = ArgumentParser(description=description)
    skip = {"data", "data_dir"} if data_flags else None
    parser.add_class_arguments(config_class, as_group=False, skip=skip)
    if data_flags:
        _add_data_flags(parser)
    return parser


def _demo_parser() -> ArgumentParser:
    from largemargin.experiments.demo import DemoConfig

    return _config_parser(
        DemoConfig,
        "Offline demo on the bundled MNIST subset: trains a cross-entropy and a large-margin "
        "model on a small training set and compares them.",
    )


def _attack_parser() -> ArgumentParser:
    from largemargin.experiments.attack_checkpoint import AttackConfig

    return _config_parser(
        AttackConfig,
        "Robustness of a checkpoint, in pixel units: accuracy under a set of attacks (by "
        "default FGSM, PGD on cross-entropy and on the logit margin, and the gradient-free "
        "Square attack) for a list of epsilons, the per-example worst case over all of them, and "
        "checks for gradient masking, on the first --max_examples images of the test split; "
        "written as markdown, CSV, JSON and a plot into --out (default <run folder>/attacks). "
        "--reference_checkpoint adds a transfer attack. Device: cuda when available.",
        data_flags=True,
    )


def _margins_parser() -> ArgumentParser:
    from largemargin.experiments.margins_checkpoint import MarginsConfig

    return _config_parser(
        MarginsConfig,
        "Per-layer first-order margin distributions of one or more checkpoints, overlaid, and "
        "optionally the true input margin: CSV, plots and a summary table.",
        data_flags=True,
    )


def _reproduce_parser() -> ArgumentParser:
    from largemargin.experiments.reproduce import EXPERIMENTS, ReproduceConfig

    parser = ArgumentParser(
        description="Reproduce one of the paper's experiments: trains its grid of runs and writes "
        "a folder with a markdown table, a CSV, PNG plots, and every run's config and seed. "
        + ReproduceConfig.__doc__.replace("``", "")
    )
    parser.add_argument("name", type=str, help=f"one of {', '.join(EXPERIMENTS)}")
    parser.add_argument(
        "--quick",
        action=ActionYesNo,
        default=False,
        help="the reduced grid (the MNIST and CIFAR-10 grids: about an hour each on 2 CPU "
        "cores; cifar10, imagenet: a smoke test)",
    )
    parser.add_argument(
        "--out", type=str, default=ReproduceConfig.out, help="where the experiment's folder goes"
    )
    parser.add_argument(
        "--data.data_dir",
        "--data_dir",
        type=str | None,
        default=None,
        help="the dataset's files, as for `largemargin train` (--data_dir: deprecated spelling)",
    )
    parser.add_argument(
        "--seeds", type=list[int] | None, default=None, help="replace the grid's seeds"
    )
    parser.add_argument(
        "--verbose",
        action=ActionYesNo,
        default=False,
        help="also print Lightning's per-run messages (devices, why fitting stopped)",
    )
    parser.add_argument(
        "--grid",
        type=dict | None,
        default=None,
        help="settings of the experiment's grid to change, by field name, e.g. "
        "'{budgets: [60], autoattack_examples: 0}' (see its module's grid dataclass)",
    )
    parser.add_argument(
        "--resume",
        type=str | None,
        default=None,
        help="continue a stopped run of this experiment in its folder (with the same settings), "
        "training only what is missing; 'last': the newest such folder under --out",
    )
    return parser


def _train(sub: Namespace) -> None:
    from largemargin.training import train
    from largemargin.training.config import RunConfig

    sub.pop("config", None)
    result = train(RunConfig(**vars(sub)))
    print(json.dumps(result.metrics["test"], indent=2))
    print(f"run folder: {result.folder}")


def _evaluate(sub: Namespace) -> None:
    from largemargin.training.checkpoint_eval import evaluate

    report = evaluate(
        sub.checkpoint,
        **_data_choice(sub),
        batch_size=sub.batch_size,
        device=sub.device,
        trust_model_code=sub.trust_model_code,
    )
    print(json.dumps(report, indent=2))


def _attack(sub: Namespace) -> None:
    from largemargin.experiments.attack_checkpoint import AttackConfig, attack_checkpoint

    report, headline, out = attack_checkpoint(AttackConfig(**_data_choice(sub), **vars(sub)))
    print(headline, report.to_markdown(), sep="\n\n", end="")
    print(f"written: {out} (robustness.md, robustness.csv, robustness.json, robustness.png)")


def _margins(sub: Namespace) -> None:
    from largemargin.experiments.margins_checkpoint import (
        MarginsConfig,
        measure_margins,
        summary_table,
    )

    summary, out = measure_margins(MarginsConfig(**_data_choice(sub), **vars(sub)))
    print(summary_table(summary))
    print(
        "Percentile and median over the margins found; not found: the true-margin search "
        "failed (not a large margin)."
    )
    print(
        f"written: {out} (margins.csv, summary.csv, margins.png; agreement.csv with --true_margin)"
    )


def _demo(sub: Namespace) -> None:
    from largemargin.experiments.demo import DemoConfig, run_demo

    run_demo(DemoConfig(**vars(sub)))


def _reproduce(sub: Namespace) -> None:
    from largemargin.experiments.reproduce import ReproduceConfig, reproduce

    settings = vars(sub)
    settings["data_dir"] = settings.pop("data").data_dir
    reproduce(ReproduceConfig(**settings))


class Subcommand(NamedTuple):
    """A subcommand: its parser, its one-line help, and the handler run with its settings."""

    parser: Callable[[], ArgumentParser]
    help: str
    run: Callable[[Namespace], None]


#: The subcommands in the order ``largemargin --help`` lists them.
SUBCOMMANDS: dict[str, Subcommand] = {
    "train": Subcommand(_train_parser, "train a model", _train),
    "evaluate": Subcommand(_evaluate_parser, "evaluate a checkpoint", _evaluate),
    "attack": Subcommand(_attack_parser, "robustness under attacks", _attack),
    "margins": Subcommand(_margins_parser, "margin distributions", _margins),
    "demo": Subcommand(_demo_parser, "the offline demo (the main job)", _demo),
    "reproduce": Subcommand(
        _reproduce_parser, "one of the paper's experiments, table and plots", _reproduce
    ),
}


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="largemargin", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"largemargin {__version__}")
    commands = parser.add_subcommands(dest="command")
    for name, command in SUBCOMMANDS.items():
        commands.add_subcommand(name, command.parser(), help=command.help)
    return parser


def _section_instantiators() -> list:
    """jsonargparse instantiators that build each run-config section (``--loss.margin.*``,
    ``--data.*``, ...) so that its errors name the full key, as from a YAML file."""
    from largemargin.training.config import build_section, sections

    def build(where: str):
        return lambda cls, *args, **kwargs: build_section(cls, where, kwargs)

    return [(build(where), cls, False) for cls, where in sections().items()]


def top_level_help() -> str:
    """``largemargin --help``: the subcommands and their one-line help, written without building
    their parsers (which import torch and Lightning)."""
    width = max(len(name) for name in SUBCOMMANDS)
    lines = [
        f"usage: largemargin [-h] [--version] {{{','.join(SUBCOMMANDS)}}} ...",
        "",
        __doc__.splitlines()[0],
        "",
        "options:",
        "  -h, --help  show this help message and exit",
        "  --version   print the program's version number and exit",
        "",
        "subcommands (`largemargin <subcommand> --help` lists its settings):",
        *(f"  {name:<{width}}  {command.help}" for name, command in SUBCOMMANDS.items()),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv``; 0 on success, 2 with one line on stderr for a bad setting
    or absent data (a ValueError or DataNotFoundError: every check raises one of them).
    ``--version`` and ``--help`` alone answer before any subcommand's parser is built."""
    args_in = sys.argv[1:] if argv is None else list(argv)
    if args_in == ["--version"]:
        print(f"largemargin {__version__}")
        return 0
    if args_in in (["-h"], ["--help"]):
        print(top_level_help(), end="")
        return 0
    from largemargin.cli.config_file import check_flag_layout
    from largemargin.data import DataNotFoundError

    if args_in[:1] == ["train"]:
        try:
            check_flag_layout(args_in[1:])
        except ValueError as error:
            print(f"largemargin train: error: {error}", file=sys.stderr)
            return 2
    parser = build_parser()
    args = parser.parse_args(args_in)
    try:
        settings = parser.instantiate(args, instantiators=_section_instantiators())[args.command]
        SUBCOMMANDS[args.command].run(settings)
    except (ValueError, DataNotFoundError) as error:
        print(f"largemargin {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
