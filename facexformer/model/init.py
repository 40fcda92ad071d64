"""Initialisation of the layers a FaceXFormer trains from scratch (everything but the pre-trained backbone)."""

from __future__ import annotations

from torch import nn

#: the ``FaceXFormerNet`` children that never start from pre-trained weights
SCRATCH_MODULES = ("fusion", "decoder", "tokens", "heads")
#: the choices of ``init_scratch_layers``: "default" keeps each layer's own (PyTorch's) initialisation
SCRATCH_INITS = ("default", "xavier_uniform")


def init_scratch_layers(net: nn.Module, scheme: str = "xavier_uniform") -> list[str]:
    """Re-initialise the fusion, decoder, task tokens and heads of ``net`` (a ``FaceXFormerNet``) in place;
    returns the names of the parameters it set.

    ``"xavier_uniform"``: every weight with 2 or more dimensions (linear and convolution kernels, token
    embeddings) is drawn Xavier-uniform (gain 1) and every bias set to 0; normalisation scales and shifts keep
    their 1 and 0. The backbone and the fixed random position encoding are not touched. ``"default"``: nothing.
    """
    if scheme not in SCRATCH_INITS:
        raise ValueError(f"scratch layer init must be one of {SCRATCH_INITS}, got {scheme!r}")
    if scheme == "default":
        return []
    touched = []
    for module_name in SCRATCH_MODULES:
        for name, parameter in getattr(net, module_name).named_parameters():
            if parameter.dim() >= 2:
                nn.init.xavier_uniform_(parameter)
            elif name.endswith("bias"):
                nn.init.zeros_(parameter)
            else:
                continue
            touched.append(f"{module_name}.{name}")
    return touched
