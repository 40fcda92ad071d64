"""``FaceXFormer``: the LightningModule users import. Builds the network from tasks, trains, loads weights."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import lightning as L
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import nn

from facexformer.batch import Batch
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.geometry.crop import CropSettings
from facexformer.geometry.crop_config import crop_config, crop_settings_from
from facexformer.io.pretrained import PretrainedMixin, check_saved_tasks
from facexformer.model.backbone import BackboneSpec, build_backbone
from facexformer.model.init import init_scratch_layers
from facexformer.model.network import FaceXFormerNet
from facexformer.tasks import RELEASED_TASKS, TASKS, Task, task_from_config
from facexformer.training.finetuning import FreezeAllBut, set_trainable
from facexformer.training.nonfinite_loss import StopOnNonFiniteLoss
from facexformer.training.optimizers import adamw_multistep
from facexformer.training.skipped_samples import ReportSkippedSamples
from facexformer.training.stage_metrics import StageMetrics
from facexformer.training.task_coverage import WarnUntrainedTasks
from facexformer.training.task_step import task_step


class FaceXFormer(PretrainedMixin, L.LightningModule):
    """One transformer for many face tasks; each task is a set of learnable tokens and a head. Weights load and
    save through ``PretrainedMixin`` (``facexformer.io.pretrained``).

    Args:
        tasks: the tasks, as ``Task`` objects (from Python also their names, ``"landmarks"``, or
            ``{"class_path", "init_args"}`` dicts, as configs write them); default the eight released tasks in
            their released order.
        backbone: any timm model name with ``features_only`` support, the short name of a backbone an installed
            package declares under ``facexformer_backbones``, or ``{"class_path": "pkg.mod.Class", "init_args":
            {...}}`` naming any ``nn.Module`` that satisfies ``facexformer.model.backbone.Backbone``.
        backbone_pretrained: how the backbone starts: False (random), True (timm's pre-trained weights for the
            name; needs the Hub or its cache) or ``"torchvision:IMAGENET1K_V1"`` (torchvision's ImageNet-1k Swin
            weights, the released model's start; ``facexformer.model.torchvision_swin``).
        scratch_init: ``"default"`` (PyTorch's per-layer init) or ``"xavier_uniform"``: the fusion, decoder,
            tokens and heads, which no pre-trained weights cover, drawn Xavier-uniform (``facexformer.model.init``).
        backbone_weights: a local weights file for the timm backbone (implies pretrained).
        image_size: input side in pixels.
        dim, decoder_depth, decoder_mlp_dim, decoder_heads: width of the face/task tokens, number of two-way
            blocks, width of the token MLP inside them and number of attention heads (8 as released; on a
            CPU, fewer and wider heads attend much faster at a small ``dim``).
        lr, weight_decay, milestones, gamma: AdamW and MultiStepLR (epochs), the paper's recipe by default.
        trainable: if given, only parameters whose names start with one of these prefixes train (e.g.
            ``["net.heads.landmarks"]``); the rest is frozen and, during fit, kept in eval mode by the
            ``FreezeAllBut`` callback this model adds to the Trainer.
        pixel_mean, pixel_std: RGB normalisation of [0, 1] inputs; default the backbone's own (timm's
            ``pretrained_cfg``). Saved with the model, so inference normalises as training did.
        init_weights: start from these weights (anything ``from_pretrained`` takes); tensors whose name or
            shape differ (e.g. a landmark head with another point count) keep their fresh initialisation.
        released_tokens: released mode: the task names whose tokens form the released model's token set
            (``from_released_checkpoint`` sets the eight released tasks). Those tokens and the face tokens never
            attend to the tokens of other tasks, so new tasks leave the released outputs bit-for-bit unchanged;
            a released task missing from ``tasks`` keeps its tokens in the decoder as context, without a head.
            ``None``: all tokens attend to each other.
        stop_on_nonfinite_loss: fit raises ``NonFiniteLossError`` (naming the task and the batch's sources) at
            the first NaN/inf training loss, before it reaches the weights (``facexformer.training.nonfinite_loss``).
        crop: how a face box becomes the network's input (``facexformer.geometry.crop.CropSettings``, or its
            fields as a dict: margin, square, zoom, interpolation, clip; ``size`` must be ``image_size``): the
            crop the model is trained with, saved with it and used by ``predict`` and ``facexformer infer``.
            Default: the released crop (25% margin per side, clipped, bicubic, not squared). ``facexformer
            fit`` sets it from the data module's ``crop``.
    """

    def __init__(
        self,
        tasks: Sequence[Task] | None = None,
        backbone: BackboneSpec = "swin_base_patch4_window7_224",
        backbone_pretrained: bool | str = False,
        backbone_weights: str | None = None,
        scratch_init: str = "default",
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
        pixel_mean: Sequence[float] | None = None,
        pixel_std: Sequence[float] | None = None,
        released_tokens: Sequence[str] | None = None,
        stop_on_nonfinite_loss: bool = True,
        crop: CropSettings | None = None,
    ):
        super().__init__()
        # under DDP a short evaluation dataset leaves some processes without a batch of it; they still take
        # part in every epoch-end synchronisation (see StageMetrics.log_epoch)
        self.allow_zero_length_dataloader_with_multiple_devices = True
        self.tasks: list[Task] = [task_from_config(t) for t in (tasks if tasks is not None else RELEASED_TASKS)]
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate task names in {names}")
        if released_tokens is not None:
            released_tokens = list(released_tokens)
            unknown = [n for n in released_tokens if n not in TASKS]
            if unknown or len(set(released_tokens)) != len(released_tokens):
                raise ValueError(f"released_tokens {released_tokens}: names must be distinct registered tasks")
        # where the starting weights came from is not saved: a checkpoint already holds the weights
        self.save_hyperparameters(
            ignore=["tasks", "init_weights", "backbone_pretrained", "backbone_weights", "scratch_init"]
        )
        self.hparams["tasks"] = [t.to_config() for t in self.tasks]
        self.hparams["crop"] = crop_config(crop, image_size)
        self._backbone_pretrained, self._backbone_weights = backbone_pretrained, backbone_weights
        self.configure_models()
        init_scratch_layers(self.net, scratch_init)
        self._set_normalization(pixel_mean, pixel_std)
        self.configure_losses()
        self.configure_metrics()
        if init_weights is not None:
            self.load_matching_weights(init_weights)
        if trainable is not None:
            set_trainable(self, trainable)

    # ----------------------------------------------------------------------------------------- building
    def configure_models(self) -> None:
        """Build ``self.net`` from the hyperparameters and the tasks."""
        hp = self.hparams
        backbone = build_backbone(
            hp.backbone, self._backbone_pretrained, hp.image_size, weights_file=self._backbone_weights
        )
        self.net = FaceXFormerNet(
            backbone,
            heads={t.name: t.build_head(hp.dim) for t in self.tasks},
            num_tokens={t.name: t.num_tokens for t in self.token_tasks},
            dim=hp.dim,
            depth=hp.decoder_depth,
            mlp_dim=hp.decoder_mlp_dim,
            num_heads=hp.decoder_heads,
            released_tokens=hp.get("released_tokens"),
        )

    def _set_normalization(self, mean: Sequence[float] | None, std: Sequence[float] | None) -> None:
        backbone = self.net.backbone
        mean = [float(v) for v in (mean if mean is not None else getattr(backbone, "mean", IMAGENET_DEFAULT_MEAN))]
        std = [float(v) for v in (std if std is not None else getattr(backbone, "std", IMAGENET_DEFAULT_STD))]
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"pixel_mean and pixel_std need 3 values each, std > 0; got {mean}, {std}")
        self.hparams["pixel_mean"], self.hparams["pixel_std"] = mean, std
        device = self.pixel_mean.device if isinstance(getattr(self, "pixel_mean", None), torch.Tensor) else None
        self.register_buffer("pixel_mean", torch.tensor(mean, device=device).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(std, device=device).view(1, 3, 1, 1), persistent=False)

    @property
    def token_tasks(self) -> list[Task]:
        """The tasks whose tokens enter the decoder: the released ones in released order (those not in
        ``tasks`` with their default configuration, as context), then the other configured tasks."""
        released = self.hparams.get("released_tokens") or []
        configured = {t.name: t for t in self.tasks}
        context = [configured.get(name) or TASKS[name]() for name in released]
        return context + [t for t in self.tasks if t.name not in released]

    def configure_losses(self) -> None:
        """One criterion module per task (some hold parameters)."""
        self.criteria = nn.ModuleDict({t.name: t.build_loss() for t in self.tasks})

    def configure_metrics(self) -> None:
        """Per-stage (and per evaluated dataset) metric collections and evaluation loss means, logged as
        ``{stage}/{task}/{metric}`` or ``{stage}/{dataset}/{task}/{metric}`` (``training.stage_metrics``)."""
        self.stage_metrics = StageMetrics(self.tasks)
        self._eval_names_from_datamodule = False

    @property
    def train_metrics(self) -> nn.ModuleDict:
        """``{task: MetricCollection}`` of training."""
        return self.stage_metrics.metrics("train")

    @property
    def val_metrics(self) -> nn.ModuleDict:
        """``{task: MetricCollection}`` of pooled validation."""
        return self.stage_metrics.metrics("val")

    def setup(self, stage: str) -> None:
        """The hand-over with a ``MultiTaskDataModule``, the one place the two meet: it gets this model's tasks
        (``set_model_tasks``, for augmentation) and gives its separately evaluated dataset names
        (``eval_names``), which go to ``set_evaluation_names``. With another datamodule, call
        ``set_evaluation_names`` yourself when its evaluation loaders are separate named datasets (names taken
        from a ``MultiTaskDataModule`` hold for its runs only; names you set hold until you change them)."""
        datamodule = self._trainer.datamodule if self._trainer is not None else None
        if isinstance(datamodule, MultiTaskDataModule):
            datamodule.set_model_tasks(self.tasks)
            self.set_evaluation_names({split: datamodule.eval_names(split) or [] for split in ("val", "test")})
            self._eval_names_from_datamodule = True
        elif self._eval_names_from_datamodule:
            self.set_evaluation_names({})

    def set_evaluation_names(self, names: Mapping[str, Sequence[str]]) -> None:
        """``{"val" | "test": [dataset name per evaluation loader, in loader order]}``: metrics of loader ``i`` are
        logged as ``{stage}/{names[i]}/{task}/{metric}``; an empty list (or a stage left out) pools the loaders.

        Every metric collection is created now, so that under DDP all processes hold, synchronise and log the same
        ones in the same order: call it on every process, before the stage runs."""
        self.stage_metrics.set_names(names, self.device)
        self._eval_names_from_datamodule = False

    def metric_collections(self, stage: str) -> dict[str, nn.ModuleDict]:
        """``{log prefix: {task: MetricCollection}}`` of ``stage``: one per separately evaluated dataset (see
        ``setup``), else the pooled one."""
        return self.stage_metrics.collections(stage)

    def configure_callbacks(self) -> list[L.Callback]:
        """What every fit gets: untrained-task warnings, skipped-sample reports, the non-finite-loss stop (unless
        ``stop_on_nonfinite_loss`` is off), and ``FreezeAllBut(trainable)`` when only part of the model trains
        (``facexformer.training``)."""
        callbacks: list[L.Callback] = [WarnUntrainedTasks(), ReportSkippedSamples()]
        if self.hparams.get("stop_on_nonfinite_loss", True):
            callbacks.append(StopOnNonFiniteLoss())
        if self.hparams.trainable is not None:
            callbacks.append(FreezeAllBut(self.hparams.trainable))
        return callbacks

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
        """(B, 3, S, S) images normalised by ``normalize`` -> raw head outputs of the requested tasks.

        Shapes for the released tasks: landmarks (B, 68, 2) in [-1, 1], headpose (B, 3) radians,
        attributes (B, 40), visibility (B, 29), age (B, 8), gender (B, 2), race (B, 5) logits,
        parsing (B, 11, S, S) logits (with ``Landmarks(head="heatmap")``: (B, N, H, W) heatmaps). Only the
        requested heads run.
        """
        return self.net(images, tasks)

    def predict(self, inputs: Any, tasks: Sequence[str] | None = None, boxes: Any = None, **kwargs: Any) -> list:
        """Faces in photos -> ``FacePrediction`` results in original-image pixels (``facexformer.inference.predict``).

        ``inputs``: paths, PIL images, (H, W, 3) uint8 arrays or (3, H, W) tensors, one or a list.
        """
        from facexformer.inference.predict import predict

        return predict(self, inputs, tasks=tasks, boxes=boxes, **kwargs)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] -> network input, ``(x - pixel_mean) / pixel_std`` per channel."""
        if not images.is_floating_point():
            raise TypeError(
                f"normalize: expects float images in [0, 1], got {images.dtype} (divide uint8 images by 255 first; "
                "MultiTaskDataModule does it after the transfer to the device)"
            )
        return (images - self.pixel_mean.to(images.dtype)) / self.pixel_std.to(images.dtype)

    @property
    def crop_settings(self) -> CropSettings:
        """The face crop this model was trained with (the ``crop`` argument), which ``predict`` applies."""
        return crop_settings_from(self.hparams.get("crop"), int(self.hparams.image_size))

    @property
    def normalization(self) -> dict[str, list[float]]:
        """``{"mean": [r, g, b], "std": [r, g, b]}`` applied by ``normalize`` to [0, 1] RGB inputs."""
        return {"mean": list(self.hparams.pixel_mean), "std": list(self.hparams.pixel_std)}

    # ----------------------------------------------------------------------------------------- checkpoints
    #: refuse (in ``on_load_checkpoint``) a Lightning checkpoint whose tasks differ from this model's
    check_checkpoint_tasks: bool = True

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse a checkpoint of other tasks; take its pixel normalisation and face crop, which its weights were
        trained with (ImageNet's normalisation for files older than the saved one; the crop where saved)."""
        hparams = checkpoint.get("hyper_parameters") or {}
        self._set_normalization(
            hparams.get("pixel_mean", IMAGENET_DEFAULT_MEAN), hparams.get("pixel_std", IMAGENET_DEFAULT_STD)
        )
        if hparams.get("crop") is not None:
            self.hparams["crop"] = crop_config(hparams["crop"], int(self.hparams.image_size))
        if self.check_checkpoint_tasks:
            check_saved_tasks(hparams.get("tasks"), self.hparams.tasks, self.task_names)

    # ----------------------------------------------------------------------------------------- training
    def step(
        self, batch: Batch, stage: str, dataloader_idx: int = 0, outputs: dict[str, Any] | None = None
    ) -> torch.Tensor:
        """One training or evaluation step on a collated ``batch`` -> weighted total loss, a scalar
        (``facexformer.training.task_step``: each task's loss and metrics see only its labelled samples).

        ``stage``: "train", "val" or "test"; ``dataloader_idx`` picks the dataset of a separately evaluated
        evaluation loader; ``outputs``, when given, receives ``{task: (mask (B,) bool, raw masked output)}``.
        """
        return task_step(self, batch, stage, dataloader_idx, outputs)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self.step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        self.step(batch, "val", dataloader_idx)

    def test_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """-> ``{task: (mask, raw output)}`` of the batch (for callbacks that write the predictions)."""
        outputs: dict[str, Any] = {}
        self.step(batch, "test", dataloader_idx, outputs)
        return outputs

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        outputs = self(self.normalize(batch["image"]))
        size = batch["image"].shape[-1]
        decoded = {name: self.task(name).decode(out, size) for name, out in outputs.items()}
        return {"source": batch.get("source"), "outputs": outputs, **decoded}

    def on_train_epoch_end(self) -> None:
        self.stage_metrics.log_epoch(self, "train")

    def on_validation_epoch_end(self) -> None:
        self.stage_metrics.log_epoch(self, "val")

    def on_test_epoch_end(self) -> None:
        self.stage_metrics.log_epoch(self, "test")

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW and MultiStepLR with ``lr``, ``weight_decay``, ``milestones`` and ``gamma`` over the parameters
        that train (``facexformer.training.optimizers``)."""
        hp = self.hparams
        return adamw_multistep(self.parameters(), hp.lr, hp.weight_decay, hp.milestones, hp.gamma)
