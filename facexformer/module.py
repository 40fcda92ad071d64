"""``FaceXFormer``: the LightningModule users import. Builds the network from tasks, trains, loads weights."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import lightning as L
import torch
from torch import nn

from facexformer.data.collate import select_samples
from facexformer.model.backbone import TimmBackbone
from facexformer.model.network import FaceXFormerNet
from facexformer.nonfinite_loss import StopOnNonFiniteLoss
from facexformer.pretrained import PretrainedWeights
from facexformer.skipped_samples import ReportSkippedSamples
from facexformer.task_coverage import WarnUntrainedTasks
from facexformer.tasks import OFFICIAL_TASKS, Task, task_from_config

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FaceXFormer(PretrainedWeights, L.LightningModule):
    """One transformer for many face tasks; each task is a set of learnable tokens and a head.

    Args:
        tasks: the tasks, as ``Task`` objects, names (``"landmarks"``) or ``{"class_path", "init_args"}``
            dicts; default the eight released tasks in their released order.
        backbone: any timm model name with ``features_only`` support.
        backbone_pretrained: load timm's ImageNet weights (needs the Hub or its cache).
        backbone_weights: a local weights file for the backbone (implies pretrained).
        image_size: input side in pixels.
        dim, decoder_depth, decoder_mlp_dim, decoder_heads: width of the face/task tokens, number of two-way
            blocks, width of the token MLP inside them and number of attention heads (8 as released; on a
            CPU, fewer and wider heads attend much faster at a small ``dim``).
        lr, weight_decay, milestones, gamma: AdamW and MultiStepLR (epochs), the paper's recipe by default.
        trainable: if given, only parameters whose names start with one of these prefixes train (e.g.
            ``["net.heads.landmarks"]``); the rest is frozen and kept in eval mode.
        init_weights: start from these weights (anything ``from_pretrained`` takes); tensors whose name or
            shape differ (e.g. a landmark head with another point count) keep their fresh initialisation.
        stop_on_nonfinite_loss: fit raises ``NonFiniteLossError`` (naming the task and the batch's sources) at
            the first NaN/inf training loss, before it reaches the weights (``facexformer.nonfinite_loss``).
    """

    def __init__(
        self,
        tasks: Sequence[Task | str | dict[str, Any]] | None = None,
        backbone: str = "swin_base_patch4_window7_224",
        backbone_pretrained: bool = False,
        backbone_weights: str | None = None,
        image_size: int = 224,
        dim: int = 256,
        decoder_depth: int = 2,
        decoder_mlp_dim: int = 2048,
        decoder_heads: int = 8,
        lr: float = 1e-4,
        weight_decay: float = 1e-5,
        milestones: Sequence[int] = (6, 10),
        gamma: float = 0.1,
        trainable: Sequence[str] | None = None,
        init_weights: str | None = None,
        stop_on_nonfinite_loss: bool = True,
    ):
        super().__init__()
        self.tasks: list[Task] = [task_from_config(t) for t in (tasks if tasks is not None else OFFICIAL_TASKS)]
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate task names in {names}")
        # where the starting weights came from is not saved: a checkpoint already holds the weights
        self.save_hyperparameters(ignore=["tasks", "init_weights", "backbone_pretrained", "backbone_weights"])
        self.hparams["tasks"] = [t.to_config() for t in self.tasks]
        self._backbone_pretrained, self._backbone_weights = backbone_pretrained, backbone_weights
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.configure_models()
        self.configure_losses()
        self.configure_metrics()
        if init_weights is not None:
            self.load_matching_weights(init_weights)
        self._apply_trainable()

    # ----------------------------------------------------------------------------------------- building
    def configure_models(self) -> None:
        """Build ``self.net`` from the hyperparameters and the tasks."""
        hp = self.hparams
        backbone = TimmBackbone(
            hp.backbone, self._backbone_pretrained, hp.image_size, weights_file=self._backbone_weights
        )
        self.net = FaceXFormerNet(
            backbone,
            heads={t.name: t.build_head(hp.dim) for t in self.tasks},
            num_tokens={t.name: t.num_tokens for t in self.tasks},
            dim=hp.dim,
            depth=hp.decoder_depth,
            mlp_dim=hp.decoder_mlp_dim,
            num_heads=hp.decoder_heads,
        )

    def configure_losses(self) -> None:
        """One criterion module per task (some hold parameters)."""
        self.criteria = nn.ModuleDict({t.name: t.build_loss() for t in self.tasks})

    def configure_metrics(self) -> None:
        """Per-stage metric collections, logged as ``{stage}/{task}/{metric}``; with datasets evaluated
        separately (``MultiTaskDataModule(evaluate_separately=True)``), ``{stage}/{dataset}/{task}/{metric}``."""
        for stage in ("train", "val", "test"):
            setattr(self, f"{stage}_metrics", self._build_metrics(stage))
        self.dataset_metrics = nn.ModuleDict()

    def _build_metrics(self, prefix: str) -> nn.ModuleDict:
        return nn.ModuleDict({t.name: t.build_metrics().clone(prefix=f"{prefix}/{t.name}/") for t in self.tasks})

    def _log_prefix(self, stage: str, dataloader_idx: int) -> str:
        """``stage``, or ``stage/dataset`` when the datamodule evaluates its datasets separately."""
        datamodule = self._trainer.datamodule if self._trainer is not None else None
        names = datamodule.eval_names(stage) if hasattr(datamodule, "eval_names") else None
        return f"{stage}/{names[dataloader_idx]}" if names else stage

    def _metrics(self, prefix: str) -> nn.ModuleDict:
        if "/" not in prefix:
            return getattr(self, f"{prefix}_metrics")
        key = prefix.replace("/", "__")
        if key not in self.dataset_metrics:
            self.dataset_metrics[key] = self._build_metrics(prefix).to(self.device)
        return self.dataset_metrics[key]

    def _apply_trainable(self) -> None:
        prefixes = self.hparams.trainable
        if prefixes is None:
            return
        names = {n for n, _ in self.named_parameters()}
        for prefix in prefixes:
            if not any(n.startswith(prefix) for n in names):
                raise ValueError(f"trainable prefix {prefix!r} matches no parameter (e.g. 'net.heads.landmarks')")
        for name, param in self.named_parameters():
            param.requires_grad_(any(name.startswith(p) for p in prefixes))

    def train(self, mode: bool = True) -> FaceXFormer:
        """Like ``nn.Module.train``, but frozen modules (no trainable parameter) stay in eval mode."""
        super().train(mode)
        if mode:
            self._keep_frozen_in_eval()
        return self

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Lightning restores per-module modes around validation; re-freeze before every step
        self._keep_frozen_in_eval()

    def _keep_frozen_in_eval(self) -> None:
        if self.hparams.trainable is None:
            return
        for module in self.net.modules():
            params = list(module.parameters())
            if params and not any(p.requires_grad for p in params):
                module.eval()

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def task(self, name: str) -> Task:
        """The configured task called ``name``."""
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(f"no task {name!r}; this model has {self.task_names}")

    # ----------------------------------------------------------------------------------------- inference
    def forward(self, images: torch.Tensor, tasks: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """(B, 3, S, S) ImageNet-normalised images -> raw head outputs of the requested tasks.

        Shapes for the released tasks: landmarks (B, 68, 2) in [-1, 1], headpose (B, 3) radians,
        attributes (B, 40), visibility (B, 29), age (B, 8), gender (B, 2), race (B, 5) logits,
        parsing (B, 11, S, S) logits (with ``Landmarks(head="heatmap")``: (B, N, H, W) heatmaps). Only the
        requested heads run.
        """
        return self.net(images, tasks)

    def predict(self, inputs: Any, tasks: Sequence[str] | None = None, boxes: Any = None, **kwargs: Any) -> list:
        """Faces in photos -> ``FacePrediction`` results in original-image pixels (see ``facexformer.predict``).

        ``inputs``: paths, PIL images, (H, W, 3) uint8 arrays or (3, H, W) tensors, one or a list.
        """
        from facexformer.predict import predict

        return predict(self, inputs, tasks=tasks, boxes=boxes, **kwargs)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] -> ImageNet-normalised network input."""
        return (images - self.pixel_mean.to(images.dtype)) / self.pixel_std.to(images.dtype)

    # ----------------------------------------------------------------------------------------- training
    def configure_callbacks(self) -> list[L.Callback]:
        """Checks every fit gets: untrained-task warnings, skipped-sample reports, the non-finite-loss stop."""
        checks: list[L.Callback] = [WarnUntrainedTasks(), ReportSkippedSamples()]
        return checks + ([StopOnNonFiniteLoss()] if self.hparams.get("stop_on_nonfinite_loss", True) else [])

    def _shared_step(self, batch: dict[str, Any], stage: str, dataloader_idx: int = 0) -> torch.Tensor:
        prefix = self._log_prefix(stage, dataloader_idx)
        images = self.normalize(batch["image"])
        queries, image = self.net.decode(images)
        masks: dict[str, torch.Tensor] = batch.get("task_mask", {})
        metrics = self._metrics(prefix)
        total = images.new_zeros(())
        batch_size = images.shape[0]
        for task in self.tasks:
            mask = masks.get(task.name)
            if mask is None or not bool(mask.any()):
                # every head takes part in every step, so DDP finds no unused parameters
                total = total + sum(p.sum() for p in self.net.heads[task.name].parameters()) * 0.0
                continue
            output = self.net.run_head(task.name, queries[mask], image[mask])
            sub = select_samples(batch, mask)
            loss = task.loss(self.criteria[task.name], output, sub)
            total = total + task.weight * loss
            self.log(
                f"{prefix}/{task.name}/loss",
                loss,
                batch_size=int(mask.sum()),
                sync_dist=stage != "train",
                add_dataloader_idx=False,
            )
            task.update_metrics(metrics[task.name], output, sub)
        self.log(
            f"{prefix}/loss",
            total,
            batch_size=batch_size,
            prog_bar=True,
            sync_dist=stage != "train",
            add_dataloader_idx=False,
        )
        return total

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._shared_step(batch, "val", dataloader_idx)

    def test_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._shared_step(batch, "test", dataloader_idx)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        outputs = self(self.normalize(batch["image"]))
        size = batch["image"].shape[-1]
        decoded = {name: self.task(name).decode(out, size) for name, out in outputs.items()}
        return {"source": batch.get("source"), **decoded}

    def metric_collections(self, stage: str) -> dict[str, nn.ModuleDict]:
        """``{log prefix: {task: MetricCollection}}`` of ``stage``: the pooled one and any per-dataset ones."""
        groups = {stage: getattr(self, f"{stage}_metrics")}
        groups.update({k.replace("__", "/"): g for k, g in self.dataset_metrics.items() if k.startswith(f"{stage}__")})
        return groups

    def _log_epoch_metrics(self, stage: str) -> None:
        for collection in [c for group in self.metric_collections(stage).values() for c in group.values()]:
            if not any(m.update_called for m in collection.values()):
                continue
            for key, value in collection.compute().items():
                if isinstance(value, dict):
                    for sub, v in value.items():
                        self._log_scalar(f"{key}/{sub}", v)
                else:
                    self._log_scalar(key, value)
            collection.reset()

    def _log_scalar(self, key: str, value: Any) -> None:
        if isinstance(value, torch.Tensor) and value.numel() != 1:
            return
        self.log(key, value, sync_dist=False)

    def on_train_epoch_end(self) -> None:
        self._log_epoch_metrics("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics("test")

    def configure_optimizers(self) -> dict[str, Any]:
        params = [p for p in self.parameters() if p.requires_grad]
        # one fused kernel for all tensors: ~3x faster steps than the per-tensor loop on a CPU
        fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
        optimizer = torch.optim.AdamW(
            params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay, fused=fused or None
        )
        scheduler = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=list(self.hparams.milestones), gamma=self.hparams.gamma
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
