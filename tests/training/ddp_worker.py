"""One rank of the DDP tests:
`torchrun --nproc_per_node 2 ddp_worker.py ORDER OUT [SCHEDULE EPOCHS]`.

Trains the reference network with the large margin loss (first- or second-order, ORDER = 1 or 2)
and the learning-rate SCHEDULE (default "onecycle") for EPOCHS epochs (default 1) on 2 CPU
processes (gloo), with ``devices="2"``: a string, which a hand count of devices took for one.
Saves this rank's weights, its collapse tally, and the learning rate of every optimiser step.
"""

from __future__ import annotations

import os
import sys

import torch

import largemargin.training.run as run
from largemargin.data import DataConfig
from largemargin.training import OptimConfig, RunConfig, TrainerConfig, recipe, train


class RecordingClassifier(run.MarginClassifier):
    """Records the learning rate each optimiser step uses."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.step_lrs: list[float] = []

    def on_before_optimizer_step(self, optimizer) -> None:
        self.step_lrs.append(optimizer.param_groups[0]["lr"])


run.MarginClassifier = RecordingClassifier
order, out = sys.argv[1], sys.argv[2]
schedule = sys.argv[3] if len(sys.argv) > 3 else "onecycle"
epochs = int(sys.argv[4]) if len(sys.argv) > 4 else 1
result = train(
    RunConfig(
        data=DataConfig(train_subset=100, val_split=100),
        loss=recipe(second_order=order == "2", top_k=2),
        optim=OptimConfig(name="sgd", lr=0.05, schedule=schedule),
        trainer=TrainerConfig(
            epochs=epochs,
            batch_size=25,
            accelerator="cpu",
            devices="2",
            strategy="ddp",
            progress_bar=False,
        ),
        run_dir=out,
        name=f"ddp-{order}-{schedule}",
    )
)
rank = int(os.environ["RANK"])
torch.save(result.module.model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
torch.save(result.module.epoch_predictions, os.path.join(out, f"tally{rank}.pt"))
torch.save(result.module.step_lrs, os.path.join(out, f"lrs{rank}.pt"))
