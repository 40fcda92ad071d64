"""Fine-tuning a part of the model: ``FreezeAllBut``, a Lightning ``BaseFinetuning`` callback.

Frozen modules stay in eval mode during fit, so BatchNorm running statistics and dropout of the frozen part
behave as at inference and its state stays bit-identical. Lightning keeps each module's mode across
validation (it captures and restores them); this callback puts frozen modules back in eval mode at the start
of every epoch and training batch, in case something called ``train()`` on the whole model.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn
from torch.optim import Optimizer

#: Lightning's warning at the start of fit about modules in eval mode (here: the frozen part, on purpose)
EVAL_MODE_WARNING = r"Found \d+ module\(s\) in eval mode at the start of training"


def set_trainable(model: nn.Module, prefixes: Sequence[str]) -> None:
    """Let only the parameters whose names start with one of ``prefixes`` train; freeze the rest.

    Raises ``ValueError`` for an empty list or a prefix that matches no parameter.
    """
    if not prefixes:
        raise ValueError(
            "trainable is empty, so nothing would train; list parameter prefixes (e.g. "
            "['net.heads.landmarks']) or leave it null to train everything"
        )
    names = [name for name, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name in names):
            raise ValueError(f"trainable prefix {prefix!r} matches no parameter (e.g. 'net.heads.landmarks')")
    for name, param in model.named_parameters():
        param.requires_grad_(any(name.startswith(p) for p in prefixes))


def keep_frozen_in_eval(model: nn.Module) -> None:
    """Put every submodule of ``model`` that has parameters, none of them trainable, in eval mode."""
    for module in model.modules():
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            module.eval()


class FreezeAllBut(BaseFinetuning):
    """Train only the parameters named by ``prefixes`` (e.g. ``["net.heads.landmarks"]``) for the whole fit.

    ``scope``: the attribute of the LightningModule whose frozen submodules are kept in eval mode (the network;
    loss modules keep their mode).
    """

    def __init__(self, prefixes: Sequence[str], scope: str = "net"):
        super().__init__()
        self.prefixes, self.scope = list(prefixes), scope

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        """Freeze all but ``prefixes`` and put the frozen modules in eval mode; Lightning's warning that modules
        are in eval mode when training starts is not shown, as they are there on purpose."""
        set_trainable(pl_module, self.prefixes)
        keep_frozen_in_eval(getattr(pl_module, self.scope))
        warnings.filterwarnings("ignore", message=EVAL_MODE_WARNING)

    def finetune_function(self, pl_module: L.LightningModule, epoch: int, optimizer: Optimizer) -> None:
        """Nothing unfreezes during fit; frozen modules go back to eval mode at every epoch start."""
        keep_frozen_in_eval(getattr(pl_module, self.scope))

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        keep_frozen_in_eval(getattr(pl_module, self.scope))
