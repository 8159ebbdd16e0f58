"""Every setting of a training run, in one visible place, checked before training starts.

A run is a ``RunConfig``: data (``largemargin.data.DataConfig``), model, loss, optimiser and
trainer sections. The CLI builds it from a YAML file and/or flags (``--loss.margin.gamma 100``);
the run folder gets the resolved config back as ``config.yaml``. Defaults: the paper's MNIST
network and loss (``RECIPE_MARGIN``) on the packaged MNIST subset, with the optimiser of
configs/mnist-15min.yaml.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Literal, get_args

from largemargin.core.norms import parse_norm
from largemargin.core.options import OPTION_NAMES, MarginOptions
from largemargin.data import DataConfig
from largemargin.errors import bad_value

LossKind = Literal["cross_entropy", "hinge", "large_margin"]
LOSS_KINDS = get_args(LossKind)
OPTIMIZERS = ("sgd", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "staircase", "cosine", "onecycle")


TRACKERS = {"mlflow": "pip install 'largemargin[track]'", "wandb": "pip install wandb"}
"""The experiment trackers (``training.tracking``) and how to install each one's package."""


def check_tracker(tracker: str | None) -> None:
    """Raise ValueError naming ``trainer.tracker`` when it is neither None nor one of
    ``TRACKERS``, or when its package is not installed."""
    if tracker is None:
        return
    if tracker not in TRACKERS:
        raise bad_value("trainer.tracker", tracker, f"None or one of {list(TRACKERS)}")
    if importlib.util.find_spec(tracker) is None:
        raise ValueError(
            f"trainer.tracker={tracker!r}: the {tracker} package is not installed "
            f"({TRACKERS[tracker]})"
        )


@dataclass
class ModelConfig:
    """The network: which model, and the layers the margin is put on.

    Attributes:
        name: a built-in model, a torchvision model (``largemargin.models.list_models()``),
            a timm model ``timm:<model>`` (``pip install 'largemargin[timm]'``) or an import
            path ``package.module:factory``. An import path imports that module and
            calls the factory, which runs its code: give only import paths you trust (a
            checkpoint of such a run is rebuilt only with ``trust_model_code``).
        margin_layers: module names (plus "input") to put the margin on, None for the model's
            default.
        kwargs: extra constructor arguments.
    """

    name: str = "mnist_reference"
    margin_layers: list[str] | None = None
    kwargs: dict = field(default_factory=dict)


RECIPE_MARGIN = MarginOptions(alpha=4.0, norm="inf", epsilon=1e-6, norm_scale="dim")
"""The large margin options a run trains with by default: the paper's MNIST recipe (the reference
code's settings), which differs on purpose from the library defaults of ``MarginOptions`` in
four options: alpha 4 (not 2), the l-inf norm (not l2), epsilon 1e-6 (not 1e-8) and norm_scale
"dim" (not None, so that the l-inf margin's dual l1 norm is the mean absolute gradient)."""


def recipe(**changes: object) -> LossConfig:
    """A large margin ``LossConfig`` with ``RECIPE_MARGIN`` changed by ``changes`` (options of
    ``MarginOptions``, e.g. ``recipe(norm=2, top_k=9)``)."""
    return LossConfig(kind="large_margin", margin=dataclasses.replace(RECIPE_MARGIN, **changes))


@dataclass
class LossConfig:
    """The training objective: the large margin loss of Elsayed et al., cross-entropy, or the
    multi-class hinge.

    Attributes:
        kind: "large_margin", "cross_entropy", or "hinge" (multi-class hinge, Crammer-Singer).
        margin: the large margin loss's options (largemargin.MarginOptions), for kind
            "large_margin" and for the training margin logged with the other kinds; default:
            the MNIST recipe, which differs from the library's defaults in alpha 4, norm inf,
            epsilon 1e-6 and norm_scale dim (RECIPE_MARGIN). Reduction "none" is refused.
        cross_entropy_weight: adds that multiple of the cross-entropy to the large margin loss
            (the reference recipe uses 0).
        margin_scale: divides the large margin loss before it is added (1 keeps the paper's
            scale: with gamma = 10000 the loss is about gamma and its gradient is that of -d).
        hinge_margin: the hinge's margin for kind "hinge", in logit units.
        trades_beta: > 0 adds TRADES's robustness term (Zhang et al., 2019): beta times the
            batch mean of KL(softmax(z(x)) || softmax(z(x'))), with x' the adversarial input
            that ``adversarial`` makes by ascending that KL; the loss of ``kind`` is then
            computed on the clean inputs. Cross-entropy with beta 6 is TRADES's CIFAR-10
            setting, 1 its MNIST one; with ``kind: large_margin`` the margin takes the
            cross-entropy's place. 0: off.
    """

    kind: LossKind = "large_margin"
    margin: MarginOptions = field(default_factory=lambda: RECIPE_MARGIN)
    cross_entropy_weight: float = 0.0
    margin_scale: float = 1.0
    hinge_margin: float = 1.0
    trades_beta: float = 0.0


@dataclass
class AdversarialConfig:
    """Adversarial training, for every loss kind: each training batch (or all but a clean
    share of it) is replaced by adversarial examples, made with ``largemargin.attacks.ascend``
    against the model being trained, before the loss sees it; the margin loss then measures
    its margins at the perturbed inputs. Radii and steps are in pixel units ([0, 1] scale)
    whatever the data's normalisation.

    Attributes:
        attack: None (off); "fgsm": fast adversarial training's single step from a uniform
            random start (Wong et al., 2020); "pgd": ``steps`` steps from a uniform random
            start (Madry et al., 2018). With ``loss.trades_beta`` > 0 the steps ascend
            TRADES's KL from TRADES's start (x + 0.001 N(0, 1)) instead.
        eps: the perturbation radius, pixels, in ``norm``.
        norm: "inf" or 2: the l-inf or l2 ball.
        steps: ascent steps of "pgd" (FGSM takes 1).
        step_size: pixels; None: 1.25 eps for "fgsm" (Wong et al.), 2.5 eps / steps for "pgd".
        clean_fraction: the share of each batch kept clean (its first rows; batches are
            shuffled), in [0, 1); the rest is replaced.
        ascend: the objective the attack ascends: "cross_entropy", or "objective" (the run's
            own loss, e.g. the margin loss itself). TRADES always ascends its KL.
        batchnorm: BatchNorm while crafting: "train" (batch statistics, the function the step
            trains; running statistics restored afterwards), "eval" (running statistics) or
            "train-update" (batch statistics, and the crafting passes move the running
            statistics, as a plain training loop in train mode does).
        overfit_check_examples: for "fgsm": training images on which, at each epoch's end,
            PGD and FGSM accuracy are measured to detect catastrophic overfitting (0: off).
        early_stop: on catastrophic overfitting, stop and restore the weights of the epoch
            with the best PGD accuracy on that sample (Wong et al.'s remedy).
    """

    attack: Literal["fgsm", "pgd"] | None = None
    eps: float = 0.1
    norm: float | str = "inf"
    steps: int = 7
    step_size: float | None = None
    clean_fraction: float = 0.0
    ascend: Literal["cross_entropy", "objective"] = "cross_entropy"
    batchnorm: Literal["train", "eval", "train-update"] = "train"
    overfit_check_examples: int = 256
    early_stop: bool = False

    def resolved_step_size(self) -> float:
        """``step_size``, or its default for ``attack``: 1.25 eps (FGSM), 2.5 eps / steps."""
        if self.step_size is not None:
            return self.step_size
        return 1.25 * self.eps if self.attack == "fgsm" else 2.5 * self.eps / self.steps

    def resolved_steps(self) -> int:
        """The ascent steps: 1 for "fgsm", ``steps`` for "pgd"."""
        return 1 if self.attack == "fgsm" else self.steps


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule. The defaults are those of configs/mnist-15min.yaml
    (Adam, one-cycle); the paper's RMSProp recipe is configs/mnist-reference.yaml.

    Attributes:
        name: "sgd", "rmsprop", "adam" or "adamw". Weight decay is an L2 term added to the
            loss for sgd, rmsprop and adam, and decoupled decay applied by the optimiser for
            adamw (no loss term).
        lr: the learning rate (the peak for "onecycle").
        momentum: for sgd and rmsprop.
        eps: the optimiser's epsilon (rmsprop, adam, adamw).
        weight_decay: with sgd, rmsprop and adam: L2 regularisation added to the loss as
            0.5 * weight_decay * ||w||^2 over every trainable parameter (the reference code's
            convention), logged as its own term; with adamw: AdamW's decoupled decay (each
            step shrinks every trainable parameter by lr * weight_decay * w), no loss term.
        schedule: per step: "constant"; "staircase" (lr * decay_rate ** floor(step /
            decay_steps), the reference); "cosine" (to 0 on the run's last step); "onecycle"
            (warm-up then cosine annealing, ending on the last step). The run's length is
            Lightning's count of optimiser steps per process.
        decay_rate: the staircase's factor.
        decay_steps: the staircase's period, in steps.
        grad_clip_norm: clip the global gradient norm to this (None: off).
    """

    name: Literal["sgd", "rmsprop", "adam", "adamw"] = "adam"
    lr: float = 2e-3
    momentum: float = 0.9
    eps: float = 1e-8
    weight_decay: float = 5e-4
    schedule: Literal["constant", "staircase", "cosine", "onecycle"] = "onecycle"
    decay_rate: float = 0.96
    decay_steps: int = 2000
    grad_clip_norm: float | None = 5.0

    def loss_weight_decay(self) -> float:
        """The coefficient of the L2 term added to the loss: ``weight_decay``, or 0 for "adamw"
        (whose decay the optimiser applies)."""
        return 0.0 if self.name == "adamw" else self.weight_decay


@dataclass
class TrainerConfig:
    """Lightning trainer settings.

    Attributes:
        epochs: training epochs.
        max_steps: stop after this many optimiser steps (-1: no limit).
        max_time: stop after this time, "DD:HH:MM:SS" (None: no limit).
        batch_size: training batch size per process.
        eval_batch_size: validation and test batch size.
        num_workers: data loader worker processes.
        accelerator: as in Lightning ("auto", "cpu", "gpu", ...).
        devices: as in Lightning ("auto", a count, or a list such as "0,1"); torchrun and SLURM
            launches are detected by Lightning.
        num_nodes: as in Lightning.
        strategy: as in Lightning ("auto", "ddp", ...).
        precision: "32-true", "bf16-mixed", "16-mixed", ...
        log_every_n_steps: how often per-step metrics are logged (at least once an epoch: an
            epoch of fewer batches logs at its last).
        log_margin_every_n_steps: log the mean first-order margin per layer for losses that do
            not compute it anyway (0: never).
        eval_margins: log the logit margin of every margin layer in validation and test (one
            gradient row per competitor class and batch, up to 9: it can cost more than the
            test pass itself; grids of short runs switch it off).
        margin_examples: measure those logit margins on the first this many examples of the
            validation and test splits (split among processes), accuracy on all of them; None:
            on all (``largemargin evaluate`` always measures all). The default 1000 keeps the
            measurement within a fraction of a short run's training time; its error against
            all 10000 MNIST test images is in docs/benchmarks.md.
        check_val_every_n_epoch: validate every N epochs.
        checkpoint_every_n_epochs: write last.ckpt every N epochs; pick a divisor of epochs so
            that the final epoch is saved (1 saves every epoch).
        progress_bar: show Lightning's progress bar.
        deterministic: use deterministic algorithms only (slower).
        tracker: also log to an experiment tracker, offline, under the run folder: "mlflow"
            (``pip install 'largemargin[track]'``) or "wandb" (``pip install wandb``); None:
            off.
    """

    epochs: int = 10
    max_steps: int = -1
    max_time: str | None = None
    batch_size: int = 128
    eval_batch_size: int = 1000
    num_workers: int = 0
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    log_every_n_steps: int = 20
    log_margin_every_n_steps: int = 50
    eval_margins: bool = True
    margin_examples: int | None = 1000
    check_val_every_n_epoch: int = 1
    checkpoint_every_n_epochs: int = 1
    progress_bar: bool = True
    deterministic: bool = False
    tracker: Literal["mlflow", "wandb"] | None = None


@dataclass
class RunConfig:
    """One training run: data, model, loss, optimiser and trainer sections, and where it goes.

    Attributes:
        data: the dataset and the paper's protocols.
        model: the network and its margin layers.
        loss: the training objective.
        adversarial: adversarial training (off by default).
        optim: the optimiser and learning-rate schedule.
        trainer: Lightning trainer settings.
        seed: seeds the model's initialisation and the batch order.
        run_dir: the folder that holds run folders.
        name: the run folder's name, run_dir/name (None: a timestamp and the loss kind).
        resume: a checkpoint path, or "last" for this run folder's last checkpoint.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    seed: int = 0
    run_dir: str = "runs"
    name: str | None = None
    resume: str | None = None


def validate(cfg: RunConfig) -> None:
    """Raise ValueError naming the first bad setting; run before any data or model is built."""
    loss = cfg.loss
    if loss.kind not in LOSS_KINDS:
        raise bad_value("loss.kind", loss.kind, f"one of {LOSS_KINDS}")
    if not isinstance(loss.margin, MarginOptions):  # its own checks ran when it was made
        raise bad_value("loss.margin", loss.margin, "a largemargin.MarginOptions")
    if loss.margin.reduction == "none":
        raise bad_value("loss.margin.reduction", "none", "'mean' or 'sum': training needs a scalar")
    for name in ("cross_entropy_weight",):
        value = getattr(loss, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise bad_value(f"loss.{name}", value, "a finite number >= 0")
    for name in ("margin_scale", "hinge_margin"):
        value = getattr(loss, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise bad_value(f"loss.{name}", value, "a finite number > 0")
    if not _finite(loss.trades_beta) or loss.trades_beta < 0:
        raise bad_value("loss.trades_beta", loss.trades_beta, "a finite number >= 0")
    validate_adversarial(cfg.adversarial, trades=loss.trades_beta > 0)
    opt = cfg.optim
    if opt.name not in OPTIMIZERS:
        raise bad_value("optim.name", opt.name, f"one of {OPTIMIZERS}")
    if opt.schedule not in SCHEDULES:
        raise bad_value("optim.schedule", opt.schedule, f"one of {SCHEDULES}")
    for name in ("lr", "eps"):
        if not getattr(opt, name) > 0:
            raise bad_value(f"optim.{name}", getattr(opt, name), "a number > 0")
    if not 0 <= opt.momentum < 1:
        raise bad_value("optim.momentum", opt.momentum, "a number in [0, 1)")
    if not opt.weight_decay >= 0:
        raise bad_value("optim.weight_decay", opt.weight_decay, "a number >= 0")
    if not 0 < opt.decay_rate <= 1:
        raise bad_value("optim.decay_rate", opt.decay_rate, "a number in (0, 1]")
    if opt.decay_steps < 1:
        raise bad_value("optim.decay_steps", opt.decay_steps, "an int >= 1")
    if opt.grad_clip_norm is not None and not opt.grad_clip_norm > 0:
        raise bad_value("optim.grad_clip_norm", opt.grad_clip_norm, "None or a number > 0")
    tr = cfg.trainer
    if tr.epochs < 1:
        raise bad_value("trainer.epochs", tr.epochs, "an int >= 1")
    for name in (
        "batch_size",
        "eval_batch_size",
        "log_every_n_steps",
        "check_val_every_n_epoch",
        "checkpoint_every_n_epochs",
    ):
        if getattr(tr, name) < 1:
            raise bad_value(f"trainer.{name}", getattr(tr, name), "an int >= 1")
    if tr.num_workers < 0:
        raise bad_value("trainer.num_workers", tr.num_workers, "an int >= 0")
    if tr.log_margin_every_n_steps < 0:
        raise bad_value(
            "trainer.log_margin_every_n_steps", tr.log_margin_every_n_steps, "an int >= 0"
        )
    examples = tr.margin_examples
    if examples is not None and (
        isinstance(examples, bool) or not isinstance(examples, int) or examples < 1
    ):
        raise bad_value("trainer.margin_examples", examples, "None (all) or an int >= 1")
    check_tracker(tr.tracker)
    if cfg.seed < 0:
        raise bad_value("seed", cfg.seed, "an int >= 0")


ADVERSARIAL_ATTACKS = (None, "fgsm", "pgd")
ASCENDED = ("cross_entropy", "objective")
CRAFTING_BATCHNORM = ("train", "eval", "train-update")


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate_adversarial(adv: AdversarialConfig, *, trades: bool) -> None:
    """Raise ValueError naming the first bad ``adversarial.*`` setting; ``trades``: the loss
    has a TRADES term, which needs an attack and ascends its own KL on the whole batch."""
    if adv.attack not in ADVERSARIAL_ATTACKS:
        raise bad_value("adversarial.attack", adv.attack, f"one of {ADVERSARIAL_ATTACKS}")
    if not _finite(adv.eps) or adv.eps <= 0:
        raise bad_value("adversarial.eps", adv.eps, "a finite number > 0 (pixels)")
    try:
        norm = parse_norm(adv.norm)
    except (TypeError, ValueError):
        norm = None
    if norm not in (math.inf, 2.0):
        raise bad_value("adversarial.norm", adv.norm, "'inf' or 2 (the l-inf or l2 ball)")
    if isinstance(adv.steps, bool) or not isinstance(adv.steps, int) or adv.steps < 1:
        raise bad_value("adversarial.steps", adv.steps, "an int >= 1")
    if adv.step_size is not None and (not _finite(adv.step_size) or adv.step_size <= 0):
        raise bad_value("adversarial.step_size", adv.step_size, "None or a finite number > 0")
    if not _finite(adv.clean_fraction) or not 0 <= adv.clean_fraction < 1:
        raise bad_value("adversarial.clean_fraction", adv.clean_fraction, "a number in [0, 1)")
    if adv.ascend not in ASCENDED:
        raise bad_value("adversarial.ascend", adv.ascend, f"one of {ASCENDED}")
    if adv.batchnorm not in CRAFTING_BATCHNORM:
        raise bad_value("adversarial.batchnorm", adv.batchnorm, f"one of {CRAFTING_BATCHNORM}")
    if adv.overfit_check_examples < 0:
        raise bad_value(
            "adversarial.overfit_check_examples", adv.overfit_check_examples, "an int >= 0"
        )
    if not trades:
        return
    if adv.attack is None:
        raise bad_value(
            "adversarial.attack",
            None,
            "'fgsm' or 'pgd' with loss.trades_beta > 0 (TRADES's inner maximisation)",
        )
    if adv.clean_fraction != 0:
        raise bad_value(
            "adversarial.clean_fraction",
            adv.clean_fraction,
            "0 with loss.trades_beta > 0 (TRADES's loss already holds the clean term)",
        )
    if adv.ascend != "cross_entropy":
        raise bad_value(
            "adversarial.ascend",
            adv.ascend,
            "the default with loss.trades_beta > 0 (TRADES ascends its KL)",
        )


def validate_for(cfg: RunConfig, num_classes: int, num_layers: int) -> None:
    """Raise ValueError naming the first setting that does not fit the data's ``num_classes``
    or the ``num_layers`` margin layers; run once both are known, before anything is written."""
    margin = cfg.loss.margin
    if margin.top_k > num_classes - 1:
        expected = f"an int in [1, {num_classes - 1}]: the data has {num_classes} classes"
        raise bad_value("loss.margin.top_k", margin.top_k, expected)
    for name in ("gamma", "norm_scale"):
        value = getattr(margin, name)
        if isinstance(value, tuple) and len(value) != num_layers:
            expected = f"one value, or one per margin layer ({num_layers} layers)"
            raise bad_value(f"loss.margin.{name}", list(value), expected)


def to_dict(cfg: RunConfig) -> dict:
    """Plain nested dict of the config (YAML/JSON ready; tuples stay tuples)."""
    return dataclasses.asdict(cfg)


def from_dict(values: dict) -> RunConfig:
    """Build a ``RunConfig`` from a nested dict; unknown keys raise ValueError naming them, and
    a loss option given directly under ``loss`` (the layout before ``loss.margin``) raises
    naming its new key (``migrate`` moves them, for configs saved by that version)."""
    if not isinstance(values, dict):
        raise TypeError(f"config must be a mapping, got {type(values).__name__}")
    check_layout(values)
    return _build(RunConfig, values, "")


def check_layout(values: dict) -> None:
    """Raise ValueError naming the new key of each loss option given directly under ``loss``
    (the layout before ``loss.margin``): ``loss.gamma`` is now ``loss.margin.gamma``."""
    loss = values.get("loss")
    moved = sorted(set(loss) & set(OPTION_NAMES)) if isinstance(loss, dict) else []
    if moved:
        new = ", ".join(f"loss.margin.{key}" for key in moved)
        raise ValueError(f"loss.{moved[0]}: the loss options moved under loss.margin; write {new}")


def migrate(values: dict) -> dict:
    """A copy of the config dict ``values`` with loss options saved flat under ``loss`` (as run
    configs were before ``loss.margin``) moved to ``loss.margin``, which ``from_dict`` reads."""
    loss = values.get("loss")
    if not isinstance(loss, dict) or "margin" in loss:
        return values
    flat = {k: v for k, v in loss.items() if k in OPTION_NAMES}
    rest = {k: v for k, v in loss.items() if k not in OPTION_NAMES}
    return {**values, "loss": {**rest, "margin": flat}}


def _build(cls: type, values: dict, where: str, base: object = None):
    """``cls`` from ``values``, or ``base`` (an instance) with ``values`` changed; nested
    dataclass fields are built from their dicts on top of the field's default, so that
    ``loss: {margin: {gamma: 100}}`` keeps the recipe's other options, as the CLI does. Unknown
    keys are named with their section ``where``."""
    names = {f.name for f in dataclasses.fields(cls)}
    bad = sorted(set(values) - names)
    if bad:
        place = f"key(s) {bad} in {where}" if where else f"config key(s) {bad}"
        raise ValueError(f"unknown {place}; valid keys: {sorted(names)}")
    hints = typing.get_type_hints(cls)
    factories = {f.name: f.default_factory for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        section = f"{where}.{key}" if where else key
        if dataclasses.is_dataclass(hints[key]) and not dataclasses.is_dataclass(value):
            if not isinstance(value, dict):
                raise ValueError(f"{section}: expected a mapping of settings, got {value!r}")
            factory = factories[key]
            default = None if factory is dataclasses.MISSING else factory()
            value = _build(hints[key], value, section, default)
        kwargs[key] = value
    if base is None:
        return build_section(cls, where, kwargs)
    try:
        return dataclasses.replace(base, **kwargs)
    except (ValueError, TypeError) as error:
        raise keyed(error, where, cls) from error


def keyed(error: ValueError | TypeError, where: str, cls: type) -> ValueError | TypeError:
    """``error`` of building the dataclass ``cls`` at the config key ``where`` (``loss.margin``),
    its message led by the full key: a message that starts with one of ``cls``'s field names
    (``alpha must be ...``, ``label_noise=2.0: ...``) gets ``where.`` in front; any other
    message, or an empty ``where``, is kept as it is."""
    message = str(error)
    names = {f.name for f in dataclasses.fields(cls)}
    head = re.match(r"[A-Za-z_]\w*", message)
    if not where or head is None or head.group() not in names:
        return error
    return type(error)(f"{where}.{message}")


def build_section(cls: type, where: str, kwargs: dict):
    """``cls(**kwargs)``, whose errors name their full key (``keyed``): the one way a section of
    a run config is built, from YAML (``from_dict``) and from flags (``SECTION_INSTANTIATORS``)."""
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as error:
        raise keyed(error, where, cls) from error


def sections(cls: type | None = None, where: str = "") -> dict[type, str]:
    """Each dataclass section of a run config (``RunConfig`` by default) and its full key:
    ``{DataConfig: "data", MarginOptions: "loss.margin", ...}`` (each type appears once)."""
    cls = RunConfig if cls is None else cls
    hints = typing.get_type_hints(cls)
    found: dict[type, str] = {}
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            key = f"{where}.{f.name}" if where else f.name
            found[kind] = key
            found.update(sections(kind, key))
    return found
