"""``FaceXFormer``: the LightningModule users import. Builds the network from tasks, trains, loads weights."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import nn

from facexformer.batch import Batch, select_samples
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.geometry.crop import CropSettings
from facexformer.io import weights
from facexformer.io.checkpoint import read_checkpoint, task_configs
from facexformer.io.errors import CheckpointError
from facexformer.io.model_card import task_name
from facexformer.model.backbone import BackboneSpec, build_backbone
from facexformer.model.init import init_scratch_layers
from facexformer.model.network import FaceXFormerNet
from facexformer.tasks import OFFICIAL_TASKS, TASKS, Task, task_from_config
from facexformer.tasks.label_check import check_batch_labels
from facexformer.training.finetuning import FreezeAllBut, set_trainable
from facexformer.training.nonfinite_loss import StopOnNonFiniteLoss
from facexformer.training.skipped_samples import ReportSkippedSamples
from facexformer.training.stage_metrics import StageMetrics
from facexformer.training.task_coverage import WarnUntrainedTasks


class FaceXFormer(L.LightningModule):
    """One transformer for many face tasks; each task is a set of learnable tokens and a head.

    Args:
        tasks: the tasks, as ``Task`` objects (from Python also their names, ``"landmarks"``, or
            ``{"class_path", "init_args"}`` dicts, as configs write them); default the eight released tasks in
            their released order.
        backbone: any timm model name with ``features_only`` support, or ``{"class_path": "pkg.mod.Class",
            "init_args": {...}}`` naming any ``nn.Module`` that satisfies ``facexformer.model.backbone.Backbone``.
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
        released_tokens: official mode: the task names whose tokens form the released model's token set
            (``from_official_checkpoint`` sets the eight released tasks). Those tokens and the face tokens never
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
        # part in every epoch-end synchronisation (see _log_epoch_metrics)
        self.allow_zero_length_dataloader_with_multiple_devices = True
        self.tasks: list[Task] = [task_from_config(t) for t in (tasks if tasks is not None else OFFICIAL_TASKS)]
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
        self.hparams["crop"] = _crop_config(crop, image_size)
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
        config = dict(self.hparams.get("crop") or {"size": int(self.hparams.image_size)})
        margin = config.get("margin")
        if isinstance(margin, list):
            config["margin"] = tuple(margin)
        return CropSettings(**config)

    @property
    def normalization(self) -> dict[str, list[float]]:
        """``{"mean": [r, g, b], "std": [r, g, b]}`` applied by ``normalize`` to [0, 1] RGB inputs."""
        return {"mean": list(self.hparams.pixel_mean), "std": list(self.hparams.pixel_std)}

    # ----------------------------------------------------------------------------------------- weights
    @classmethod
    def from_pretrained(
        cls,
        source: str | Path,
        *,
        trusted: bool = False,
        sha256: str | None = None,
        revision: str | None = None,
        token: str | bool | None = None,
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        allow_nonfinite: bool = False,
        **overrides: Any,
    ) -> FaceXFormer:
        """Load a ``save_pretrained`` folder, a Lightning ``.ckpt``, a released ``model.pt`` or a Hub repo id.

        Hub ids: ``kartiknarayan/facexformer`` (the released file) or a repo written by ``save_pretrained``
        or ``push_to_hub`` (``revision``, ``token``, ``cache_dir``, ``local_files_only`` go to
        ``hf_hub_download``). The class paths the file names must be built in or declared by an installed package
        (``facexformer.io.class_paths``); ``trusted=True`` allows any and opens a full pickle (both may run code;
        ``sha256`` equal to the file's opens the pickle too). Tensors of another dtype than the model's, or
        holding NaN/inf, are refused; ``allow_nonfinite=True`` loads the latter with a warning naming them.
        ``overrides`` replace constructor arguments. Returns the model in eval mode; failures raise
        ``CheckpointError``.
        """
        return weights.load_pretrained(
            cls,
            source,
            trusted=trusted,
            sha256=sha256,
            revision=revision,
            token=token,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            allow_nonfinite=allow_nonfinite,
            **overrides,
        )

    @classmethod
    def from_official_checkpoint(
        cls,
        path: str | Path,
        tasks: Sequence[Task | str | dict[str, Any]] | None = None,
        *,
        trusted: bool = False,
        **kwargs: Any,
    ) -> FaceXFormer:
        """Build the released architecture (Swin-B, 224) and load the released ``ckpts/model.pt``.

        ``tasks`` defaults to the eight released tasks; extra tasks (e.g. ``"expression"``) keep their fresh
        initialisation. Returns the model in eval mode.
        """
        checkpoint = read_checkpoint(path, trusted=trusted)
        if checkpoint.kind != "released":
            raise CheckpointError(f"{checkpoint.path} is not a released FaceXFormer file (it is a {checkpoint.kind})")
        if tasks is not None:
            kwargs["tasks"] = tasks
        return weights.released_model(cls, checkpoint.state, checkpoint.path, **kwargs)

    def load_official_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load released-format weights; every released tensor this model has must fit exactly."""
        weights.load_released_state(self, state)

    def load_matching_weights(self, source: str | Path, trusted: bool = False) -> list[str]:
        """Copy every tensor of ``source`` whose name and shape match this model; return the names left as they
        were."""
        return weights.load_matching_weights(self, source, trusted=trusted)

    def save_pretrained(
        self, directory: str | Path, overwrite: bool = False, metrics: Mapping[str, float] | None = None
    ) -> Path:
        """Write ``config.json``, ``model.safetensors`` and a ``README.md`` model card to ``directory`` as one
        folder (``huggingface_hub``'s ``PyTorchModelHubMixin`` layout); see ``facexformer.io.weights``."""
        return weights.save_pretrained(self, directory, overwrite=overwrite, metrics=metrics)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        token: str | None = None,
        private: bool | None = None,
        branch: str | None = None,
        commit_message: str = "Upload FaceXFormer",
        create_pr: bool = False,
    ) -> str:
        """Upload a ``save_pretrained`` folder to the Hub repo ``repo_id`` (created if needed); returns the
        commit URL."""
        return weights.push_to_hub(
            self,
            repo_id,
            token=token,
            private=private,
            branch=branch,
            commit_message=commit_message,
            create_pr=create_pr,
        )

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
            self.hparams["crop"] = _crop_config(hparams["crop"], int(self.hparams.image_size))
        saved = hparams.get("tasks")
        if not self.check_checkpoint_tasks or saved is None:
            return
        if task_configs(saved) != task_configs(self.hparams.tasks):
            raise CheckpointError(
                "the checkpoint was trained for other tasks than this model: checkpoint "
                f"{[task_name(t) for t in saved]}, model {self.task_names}. Build the model with the checkpoint's "
                "tasks (on the command line: --tasks_from_checkpoint true), start a new run from its weights with "
                "init_weights, or set model.check_checkpoint_tasks = False to load it anyway"
            )

    # ----------------------------------------------------------------------------------------- training
    def step(
        self, batch: Batch, stage: str, dataloader_idx: int = 0, outputs: dict[str, Any] | None = None
    ) -> torch.Tensor:
        """One training or evaluation step on a collated ``batch`` (``facexformer.batch``) -> weighted total loss.

        ``stage``: "train", "val" or "test"; ``dataloader_idx`` picks the dataset of a separately evaluated
        evaluation loader. Each task's loss and metrics see only the samples its ``task_mask`` marks; the losses
        are logged (train) or averaged over the epoch (val, test). Scalar, differentiable in training.
        ``outputs``, when given, receives ``{task: (mask (B,) bool, raw output of the masked samples)}``.
        """
        prefix = self.stage_metrics.prefix(stage, dataloader_idx)
        if batch["image"].shape[0] == 0:  # a process with no evaluation batch takes part with an empty one
            return batch["image"].new_zeros((), dtype=torch.float32)
        check_batch_labels(batch, self.tasks, training=stage == "train")  # names a bad label's task and sample
        images = self.normalize(batch["image"])
        queries, image = self.net.decode(images)
        masks: dict[str, torch.Tensor] = batch.get("task_mask", {})
        metrics = self.stage_metrics.metrics(prefix)
        losses = self.stage_metrics.loss_means(prefix) if stage != "train" else None
        total = images.new_zeros(())
        batch_size = images.shape[0]
        for task in self.tasks:
            mask = masks.get(task.name)
            if mask is None or not bool(mask.any()):
                # every head takes part in every step, so DDP finds no unused parameters
                total = total + sum(p.sum() for p in self.net.heads[task.name].parameters()) * 0.0
                continue
            output = self.net.run_head(task.name, queries[mask], image[mask])
            if outputs is not None:
                outputs[task.name] = (mask, output.detach())
            sub = select_samples(batch, mask)
            loss = task.loss(self.criteria[task.name], output, sub)
            total = total + task.weight * loss
            if losses is None:
                self.log(f"{prefix}/{task.name}/loss", loss, batch_size=int(mask.sum()), add_dataloader_idx=False)
            else:
                losses["tasks"][task.name].update(loss.detach(), int(mask.sum()))
                self.stage_metrics.count(prefix, task.name, int(mask.sum()))
            task.update_metrics(metrics[task.name], output, sub, **task.criterion_kwargs(self.criteria[task.name]))
        if losses is None:
            self.log(f"{prefix}/loss", total, batch_size=batch_size, prog_bar=True, add_dataloader_idx=False)
        else:
            losses["total"].update(total.detach(), batch_size)
        return total

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

    def _log_epoch_metrics(self, stage: str) -> None:
        """Compute, log and reset every collection of ``stage`` (``StageMetrics.compute``: the same collective
        steps on every process). The values are synchronised already, so Lightning's advice to sync them is
        silenced for these keys."""
        reduce = None
        if self._trainer is not None and self.trainer.world_size > 1:
            reduce = partial(self.trainer.strategy.reduce, reduce_op="sum")
        warnings.filterwarnings("ignore", rf"It is recommended to use `self.log\('{stage}/", UserWarning)
        for key, value in self.stage_metrics.compute(stage, self.device, reduce).items():
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


def _crop_config(crop: CropSettings | Mapping[str, Any] | None, image_size: int) -> dict[str, Any]:
    """``crop`` (default: the released crop at ``image_size``) as the JSON-able dict saved in the hyperparameters;
    a crop of another size than ``image_size`` is refused."""
    if crop is None:
        crop = CropSettings(size=image_size)
    elif isinstance(crop, Mapping):
        fields = {"size": image_size, **crop}
        if isinstance(fields.get("margin"), list):
            fields["margin"] = tuple(fields["margin"])
        crop = CropSettings(**fields)
    if not isinstance(crop, CropSettings):
        raise TypeError(f"crop must be a CropSettings or a dict of its fields, got {type(crop).__name__}")
    if crop.size != image_size:
        raise ValueError(f"crop size {crop.size} differs from image_size {image_size}: the network sees the crop")
    config = dataclasses.asdict(crop)
    config["margin"] = list(crop.margin) if isinstance(crop.margin, Sequence) else crop.margin
    return config
