import math

import pytest
import timm
import torch
from safetensors.torch import save_file

from facexformer import FaceXFormer
from facexformer.model.init import SCRATCH_MODULES, init_scratch_layers

TASKS = [{"class_path": "landmarks", "init_args": {"head": "heatmap", "loss": "star", "heatmap_size": 16}}, "headpose"]
TINY = {"backbone": "test_convnext", "image_size": 64, "dim": 32, "decoder_mlp_dim": 64, "tasks": TASKS}


@pytest.fixture
def pretrained_file(tmp_path):
    """A timm weights file for the tiny backbone, away from its default init."""
    torch.manual_seed(5)
    model = timm.create_model("test_convnext")
    state = {k: v + torch.randn_like(v) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path = tmp_path / "backbone.safetensors"
    save_file(state, path)
    return path


def test_xavier_touches_only_the_layers_trained_from_scratch(pretrained_file):
    torch.manual_seed(0)
    plain = FaceXFormer(**TINY, backbone_weights=str(pretrained_file))
    torch.manual_seed(1)
    xavier = FaceXFormer(**TINY, backbone_weights=str(pretrained_file), scratch_init="xavier_uniform")
    before, after = plain.net.state_dict(), xavier.net.state_dict()
    for name, value in after.items():
        if not name.startswith(SCRATCH_MODULES):  # backbone (the file's weights) and position encoding
            if name.startswith("backbone."):
                assert torch.equal(value, before[name]), name
            continue
        if value.dim() >= 2:
            fan_out, fan_in = value.shape[0], value[0].numel()
            if name.startswith("tokens."):
                fan_out, fan_in = value.shape
            receptive = value[0, 0].numel() if value.dim() > 2 else 1
            bound = math.sqrt(6 / (fan_in + fan_out * receptive))
            assert value.abs().max() <= bound + 1e-6, name
            assert value.abs().max() > 0.5 * bound, name  # drawn over the whole range, not left small
        elif name.endswith("bias"):
            assert not value.any(), name
        else:  # normalisation scales: their own 1
            assert torch.equal(value, before[name]), name


def test_backbone_and_position_are_left_alone():
    torch.manual_seed(0)
    model = FaceXFormer(**TINY)
    backbone = {k: v.clone() for k, v in model.net.backbone.state_dict().items()}
    position = model.net.position.gaussian_matrix.clone()
    touched = init_scratch_layers(model.net)
    assert touched and all(name.startswith(SCRATCH_MODULES) for name in touched)
    assert any(name.startswith("tokens.") for name in touched) and any(n.startswith("fusion.") for n in touched)
    for key, value in model.net.backbone.state_dict().items():
        assert torch.equal(value, backbone[key]), key
    assert torch.equal(model.net.position.gaussian_matrix, position)


def test_default_changes_nothing_and_unknown_schemes_are_refused():
    model = FaceXFormer(**TINY)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert init_scratch_layers(model.net, "default") == []
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="xavier_uniform"):
        FaceXFormer(**TINY, scratch_init="xavier")
