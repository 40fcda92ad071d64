"""Linear layers that run CPU inference through oneDNN, with the weight packed once and the bias and activation
applied inside the matrix product.

torch's CPU linear runs float32 through MKL, which on AMD CPUs takes its AVX2 kernels, well below oneDNN's
(``facexformer benchmark model`` prints both peaks; figures in docs/benchmarks.md). bf16 already runs through
oneDNN, but repacks the weight on every call and adds the bias and GELU in separate passes over the output.
:func:`use_onednn_linears` swaps a module's ``nn.Linear`` layers for :class:`OneDnnLinear` (same parameters,
same state-dict keys) and folds the GELU or ReLU that follows a linear layer in an ``nn.Sequential`` or a timm
``Mlp`` into it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from timm.layers import Mlp
from torch import nn

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"none": lambda x: x, "gelu": F.gelu, "relu": F.relu}


@functools.cache
def onednn_dtypes() -> tuple[torch.dtype, ...]:
    """The dtypes oneDNN's packed linear serves on this CPU (bf16 only where the CPU has bf16 units)."""
    if not torch.backends.mkldnn.is_available() or not hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        return ()
    return (torch.float32, torch.bfloat16) if torch.ops.mkldnn._is_mkldnn_bf16_supported() else (torch.float32,)


class OneDnnLinear(nn.Linear):
    """``nn.Linear`` followed by ``activation`` ("none", "gelu" (exact erf form) or "relu").

    CPU inference (autograd off, no autocast, not being traced or compiled) in a dtype of :func:`onednn_dtypes`
    runs ``mkldnn._linear_pointwise`` on a copy of the weight packed in oneDNN's layout, made on first use and
    remade when the weight may have changed (a forward pass with autograd on, which precedes any optimizer
    step; in-place updates, ``load_state_dict``, ``.to()``); the activation is applied
    to the float32 accumulator before rounding. Everything else runs ``F.linear`` and the activation: training
    is unchanged. The packed copy holds as much memory as the weight and is never saved or copied.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "none", **kwargs):
        super().__init__(in_features, out_features, bias, **kwargs)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation {activation!r} is not one of {sorted(ACTIVATIONS)}")
        self.activation = activation
        self._packed: tuple[torch.Tensor, int, int, torch.Tensor] | None = None

    @classmethod
    def from_linear(cls, linear: nn.Linear, activation: str = "none") -> OneDnnLinear:
        """A layer sharing ``linear``'s weight and bias parameters."""
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None, activation, device="meta")
        layer.weight, layer.bias = linear.weight, linear.bias
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in_features) -> (..., out_features)."""
        if not self._packed_path(x):
            if torch.is_grad_enabled():
                self._packed = None  # an optimizer step may follow; fused AdamW does not bump ``_version``
            return ACTIVATIONS[self.activation](F.linear(x, self.weight, self.bias))
        algorithm = "none" if self.activation == "gelu" else ""
        return torch.ops.mkldnn._linear_pointwise(x, self._packed_weight(), self.bias, self.activation, [], algorithm)

    def _packed_path(self, x: torch.Tensor) -> bool:
        return (
            not torch.jit.is_tracing()
            and not torch.jit.is_scripting()
            and not torch.compiler.is_compiling()
            and not torch.onnx.is_in_onnx_export()
            and not torch.is_grad_enabled()
            and not torch.is_autocast_enabled("cpu")
            and x.device.type == "cpu"
            and x.dtype == self.weight.dtype
            and x.dtype in onednn_dtypes()
        )

    def _packed_weight(self) -> torch.Tensor:
        weight = self.weight
        key = (weight.data_ptr(), weight._version)
        if self._packed is None or self._packed[0] is not weight or self._packed[1:3] != key:
            self._packed = (weight, *key, torch.ops.mkldnn._reorder_linear_weight(weight.detach(), None))
        return self._packed[3]

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> OneDnnLinear:
        self._packed = None
        return super()._apply(fn, recurse)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_packed": None}

    def extra_repr(self) -> str:
        return super().extra_repr() + f", activation={self.activation}"


def use_onednn_linears(module: nn.Module) -> None:
    """Replace every ``nn.Linear`` inside ``module`` by a :class:`OneDnnLinear` sharing its parameters; a GELU
    (exact) or ReLU right after one in an ``nn.Sequential`` or a timm ``Mlp`` moves into it (its place becomes
    ``nn.Identity``)."""
    for parent in list(module.modules()):
        if isinstance(parent, Mlp) and type(parent.fc1) is nn.Linear:
            parent.fc1 = _fused(parent.fc1, parent.act)
            if parent.fc1.activation != "none":
                parent.act = nn.Identity()
        if isinstance(parent, nn.Sequential):
            children = list(parent.named_children())
            for (name, child), (next_name, after) in zip(children, children[1:], strict=False):
                if type(child) is nn.Linear:
                    setattr(parent, name, _fused(child, after))
                    if parent.get_submodule(name).activation != "none":
                        setattr(parent, next_name, nn.Identity())
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                setattr(parent, name, OneDnnLinear.from_linear(child))


def _fused(linear: nn.Linear, activation: nn.Module) -> OneDnnLinear:
    if type(activation) is nn.GELU and activation.approximate == "none":
        return OneDnnLinear.from_linear(linear, "gelu")
    if type(activation) is nn.ReLU:
        return OneDnnLinear.from_linear(linear, "relu")
    return OneDnnLinear.from_linear(linear)
