"""Report, per dataset and epoch, how many samples ``skip_invalid=True`` replaced because they failed to load.

Raw-format datasets (``facexformer.data.datasets.base.FaceDataset``) count replaced samples in shared memory, so
counts from DataLoader workers are included. ``ReportSkippedSamples`` logs ``data/skipped/<stage>/<name>``
(the running total) at the end of every training and validation epoch and warns with the epoch's increase.
``FaceXFormer`` adds it to every fit.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_warn


class ReportSkippedSamples(L.Callback):
    """Log and warn about samples skipped (``skip_invalid``) by each dataset of the datamodule."""

    def __init__(self) -> None:
        self.reported: dict[str, int] = {}

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.report(trainer, pl_module, ("train",))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.report(trainer, pl_module, ("val",))

    def report(self, trainer: L.Trainer, pl_module: L.LightningModule, stages: tuple[str, ...]) -> None:
        """Log each dataset's skip total for ``stages``; warn with the increase since the last report."""
        datasets: dict[str, Any] = getattr(trainer.datamodule, "datasets", None) or {}
        for stage in stages:
            for name, dataset in (datasets.get(stage) or {}).items():
                total = getattr(dataset, "skipped", None)
                if total is None:
                    continue
                key = f"data/skipped/{stage}/{name}"
                pl_module.log(key, float(total), on_step=False, on_epoch=True, rank_zero_only=True)
                new = total - self.reported.get(key, 0)
                self.reported[key] = total
                if new > 0:
                    rank_zero_warn(
                        f"{name} ({stage}): {new} sample(s) failed to load and were replaced in epoch "
                        f"{trainer.current_epoch} (skip_invalid=True; {total} in total)",
                        category=UserWarning,
                    )
