"""``optimize_for_inference``: a copy of a ``FaceXFormerNet`` that computes the same outputs faster, sharing
its weights; ``predict``, ``infer`` and ``benchmark`` run it, training and export run the network as built.

The copy differs from the network in how it computes, not in what (outputs equal up to float rounding):

- every ``nn.Linear`` becomes a ``OneDnnLinear`` (CPU inference through oneDNN with packed weights, the GELU
  or ReLU after it applied inside the matrix product);
- the decoder's attention and the fusion fold their projections (``FoldedAttention``, ``FoldedFusion``);
- the positional encoding is kept between calls (``CachedPositionEncoding``);
- the backbone's ``nn.Softmax`` modules run bf16/fp16 through the float32-output kernel (``SoftmaxInFloat32``);
- on CPU without autograd, everything after the backbone runs on ``chunk_size`` samples at a time, so the
  face tokens and their intermediates stay in cache (``InferenceNet``).

Measured gains: docs/benchmarks.md.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable

import torch
from torch import nn

from facexformer.inference.cached_position import CachedPositionEncoding
from facexformer.inference.folded import FoldedAttention, FoldedFusion
from facexformer.inference.onednn_linear import use_onednn_linears
from facexformer.inference.softmax import SoftmaxInFloat32
from facexformer.model.decoder import Attention
from facexformer.model.fusion import MultiScaleFusion
from facexformer.model.network import FaceXFormerNet
from facexformer.model.position import RandomFourierPositionEncoding
from facexformer.model.precision import compute_dtype


class InferenceNet(FaceXFormerNet):
    """A ``FaceXFormerNet`` whose forward runs everything after the backbone on ``chunk_size`` samples at a
    time on CPU without autograd (``None``: the whole batch), reusing the fusion's folded weights."""

    chunk_size: int | None = 2

    def forward(self, images: torch.Tensor, tasks: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """(B, 3, S, S) normalised images -> {task: raw head output (B, ...)} for the requested tasks."""
        names = self.requested_tasks(tasks)
        step = self.chunk_size or images.shape[0]
        if step >= images.shape[0] or images.device.type != "cpu" or torch.is_grad_enabled():
            return super().forward(images, names)
        features = self.backbone(images.to(compute_dtype(self.backbone)))
        folded = self.fusion.folded_weights()
        chunks = []
        for start in range(0, images.shape[0], step):
            image = self.fusion([f[start : start + step] for f in features], folded)
            queries, image = self.run_decoder(image)
            chunks.append({name: self.run_head(name, queries, image) for name in names})
        return {name: torch.cat([c[name] for c in chunks]) for name in names}


#: exact class -> its faster subclass (same state: the instance's class is swapped)
FASTER_CLASSES: dict[type[nn.Module], type[nn.Module]] = {
    FaceXFormerNet: InferenceNet,
    Attention: FoldedAttention,
    MultiScaleFusion: FoldedFusion,
    RandomFourierPositionEncoding: CachedPositionEncoding,
}


def optimize_for_inference(net: FaceXFormerNet, chunk_size: int | None = 2) -> FaceXFormerNet:
    """A copy of ``net`` in eval mode that shares every parameter and buffer with it and computes the same
    outputs faster (see the module's docstring); an ``InferenceNet`` when ``net`` is exactly a
    ``FaceXFormerNet`` (a subclass keeps its own ``forward``). ``net`` itself is left as it is.

    The copy follows weights loaded into ``net`` (``load_state_dict``, ``.to()``), but make a new one after
    training ``net``: an optimizer step may change a weight without a trace oneDNN's packed copy could see
    (fused AdamW does not bump version counters).
    """
    if not isinstance(net, FaceXFormerNet):
        raise TypeError(f"optimize_for_inference takes a FaceXFormerNet, got {type(net).__name__}")
    shared = {id(t): t for t in itertools.chain(net.parameters(), net.buffers())}
    fast = copy.deepcopy(net, memo=shared)
    for module in list(fast.modules()):
        faster = FASTER_CLASSES.get(type(module))
        if faster is not None:
            module.__class__ = faster
        for name, child in list(module.named_children()):
            if type(child) is nn.Softmax and child.dim is not None:
                setattr(module, name, SoftmaxInFloat32(child.dim))
    use_onednn_linears(fast)
    fast.chunk_size = chunk_size
    return fast.eval()
