"""Data loaders for a run: epoch-seeded shuffling, so a resumed run sees the same batches."""

from __future__ import annotations

from collections.abc import Iterator

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from largemargin.data import DatasetBundle


class EpochSeededSampler(Sampler[int]):
    """A random permutation per epoch, drawn from (seed, epoch) alone. Lightning calls
    ``set_epoch`` before each epoch (and wraps this sampler for distributed runs)."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=g).tolist())

    def __len__(self) -> int:
        return self.size


class BundleDataModule(L.LightningDataModule):
    """Train / val / test loaders over a ``DatasetBundle`` (val falls back to test when the run
    has no validation split)."""

    def __init__(
        self,
        bundle: DatasetBundle,
        *,
        batch_size: int,
        eval_batch_size: int,
        num_workers: int,
        seed: int,
    ) -> None:
        super().__init__()
        self.bundle = bundle
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.seed = seed

    def _loader(self, dataset: Dataset, batch_size: int, sampler: Sampler | None) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        sampler = EpochSeededSampler(len(self.bundle.train), self.seed)
        return self._loader(self.bundle.train, self.batch_size, sampler)

    def val_dataloader(self) -> DataLoader:
        dataset = self.bundle.val if self.bundle.val is not None else self.bundle.test
        return self._loader(dataset, self.eval_batch_size, None)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.bundle.test, self.eval_batch_size, None)
