"""The model and datamodule of a shipped config, built without running anything (for the benchmarks)."""

from __future__ import annotations

from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.module import FaceXFormer


def load_config(name: str) -> tuple[FaceXFormer, MultiTaskDataModule]:
    """The model and datamodule a shipped config (or a config file) describes, without running anything."""
    from facexformer.apps.cli import FaceXFormerCLI, resolve_config_names

    cli = FaceXFormerCLI(
        FaceXFormer,
        MultiTaskDataModule,
        run=False,
        args=resolve_config_names(["--config", name]),
        trainer_defaults={"use_distributed_sampler": False, "logger": False},
    )
    return cli.model, cli.datamodule
