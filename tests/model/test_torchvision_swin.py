import urllib.error

import pytest
import torch
import torchvision
from torchvision.models._api import WeightsEnum

from facexformer.model.backbone import TimmBackbone, build_backbone
from facexformer.model.torchvision_swin import convert_torchvision_swin, torchvision_to_timm_key


def _random_torchvision(builder: str, seed: int = 0) -> torch.nn.Module:
    """torchvision's Swin with every tensor moved off its init (norm scales, biases, position tables included)."""
    torch.manual_seed(seed)
    model = getattr(torchvision.models, builder)(weights=None).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.02)
    return model


def _torchvision_features(model: torch.nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """The released model's taps: the outputs of ``features[1, 3, 5, 7]``, NHWC -> NCHW."""
    taps, x = [], images
    for index, layer in enumerate(model.features):
        x = layer(x)
        if index in (1, 3, 5, 7):
            taps.append(x.permute(0, 3, 1, 2))
    return taps


def test_swin_b_mapped_gives_torchvision_features():
    reference = _random_torchvision("swin_b")
    backbone = TimmBackbone("swin_base_patch4_window7_224").eval()
    backbone.body.load_state_dict(convert_torchvision_swin(reference.state_dict()), strict=True)
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = _torchvision_features(reference, images)
        ours = backbone(images)
    assert [f.shape for f in ours] == [f.shape for f in expected]
    worst = max((a - b).abs().max().item() for a, b in zip(ours, expected, strict=True))
    assert worst <= 1e-5, worst


def test_torchvision_choice_loads_through_torchvision(monkeypatch):
    reference = _random_torchvision("swin_t", seed=3)
    asked = []

    def fake_state_dict(self, *args, **kwargs):
        asked.append(self)
        return reference.state_dict()

    monkeypatch.setattr(WeightsEnum, "get_state_dict", fake_state_dict)
    backbone = build_backbone("swin_tiny_patch4_window7_224", pretrained="torchvision:IMAGENET1K_V1").eval()
    assert asked == [torchvision.models.Swin_T_Weights.IMAGENET1K_V1]
    images = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        worst = max(
            (a - b).abs().max().item()
            for a, b in zip(backbone(images), _torchvision_features(reference, images), strict=True)
        )
    assert worst <= 1e-5


def test_offline_error_names_the_file_and_where_it_goes(monkeypatch):
    def offline(self, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(WeightsEnum, "get_state_dict", offline)
    with pytest.raises(RuntimeError) as error:
        TimmBackbone("swin_tiny_patch4_window7_224", pretrained="torchvision:IMAGENET1K_V1")
    message = str(error.value)
    url = torchvision.models.Swin_T_Weights.IMAGENET1K_V1.url
    assert url in message
    assert f"{torch.hub.get_dir()}/checkpoints/{url.rsplit('/', 1)[-1]}" in message


@pytest.mark.parametrize(
    ("pretrained", "name", "message"),
    [
        ("imagenet", "swin_tiny_patch4_window7_224", "torchvision:<WEIGHTS>"),
        ("torchvision:NOPE", "swin_tiny_patch4_window7_224", "no weights 'NOPE'"),
        ("torchvision:IMAGENET1K_V1", "test_convnext", "Swin v1 backbone"),
    ],
)
def test_bad_choices_are_refused(pretrained, name, message):
    with pytest.raises(ValueError, match=message):
        TimmBackbone(name, pretrained=pretrained)


def test_key_mapping_moves_patch_merging_and_drops_the_classifier():
    assert torchvision_to_timm_key("features.2.reduction.weight") == "layers_1.downsample.reduction.weight"
    assert torchvision_to_timm_key("features.7.1.mlp.3.bias") == "layers_3.blocks.1.mlp.fc2.bias"
    assert torchvision_to_timm_key("features.1.0.attn.relative_position_index") is None
    assert torchvision_to_timm_key("head.weight") is None
    with pytest.raises(KeyError, match="features.9"):
        torchvision_to_timm_key("features.9.weight")
