"""One rank of the DDP test: `torchrun --nproc_per_node 2 ddp_worker.py ORDER OUT`.

Trains the reference network for a few steps with the large margin loss (first- or
second-order, ORDER = 1 or 2) on 2 CPU processes (gloo), then saves this rank's weights.
"""

from __future__ import annotations

import os
import sys

import torch

from largemargin.data import DataConfig
from largemargin.training import LossConfig, OptimConfig, RunConfig, TrainerConfig, train

order, out = sys.argv[1], sys.argv[2]
result = train(
    RunConfig(
        data=DataConfig(train_subset=100, val_split=100),
        loss=LossConfig(second_order=order == "2", top_k=2),
        optim=OptimConfig(name="sgd", lr=0.05),
        trainer=TrainerConfig(
            epochs=1,
            batch_size=25,
            accelerator="cpu",
            devices=2,
            strategy="ddp",
            progress_bar=False,
        ),
        run_dir=out,
        name=f"ddp-{order}",
    )
)
rank = int(os.environ["RANK"])
torch.save(result.module.model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
torch.save(result.module.epoch_predictions, os.path.join(out, f"tally{rank}.pt"))
