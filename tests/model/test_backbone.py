import pytest
import torch

from facexformer.model import backbone as backbone_module
from facexformer.model.backbone import Backbone, TimmBackbone, build_backbone, set_named_backbones
from tests.backbones import TwoScales


@pytest.mark.parametrize(
    ("name", "channels"),
    [("test_convnext", [24, 32, 48, 64]), ("swin_tiny_patch4_window7_224", [96, 192, 384, 768]), ("resnet18", None)],
)
def test_features_are_nchw_finest_first(name, channels):
    size = 64 if name != "swin_tiny_patch4_window7_224" else 224
    backbone = TimmBackbone(name, image_size=size).eval()
    with torch.no_grad():
        features = backbone(torch.randn(1, 3, size, size))
    assert len(features) == 4
    if channels is not None:
        assert backbone.channels == channels
    for feature, c, r in zip(features, backbone.channels, backbone.reductions, strict=True):
        assert feature.shape == (1, c, size // r, size // r)


def test_swin_layout_is_permuted():
    backbone = TimmBackbone("swin_tiny_patch4_window7_224").eval()
    assert backbone.channels_last
    with torch.no_grad():
        x = torch.randn(1, 3, 224, 224)
        raw = backbone.body(x)[0]
        assert torch.equal(backbone(x)[0], raw.permute(0, 3, 1, 2))


def test_pretrained_offline_says_what_to_download():
    with pytest.raises(RuntimeError, match="hf download timm/test_convnext"):
        TimmBackbone("test_convnext", pretrained=True)


def test_unknown_model_and_missing_weights_file(tmp_path):
    with pytest.raises(ValueError, match="unknown timm model"):
        TimmBackbone("no_such_model_xyz")
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        TimmBackbone("test_convnext", weights_file=tmp_path / "missing.safetensors")


@pytest.mark.parametrize(
    ("name", "mean", "std"),
    [
        ("resnet18", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # ImageNet's, like the released Swin
        ("test_convnext", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        ("vit_base_patch16_clip_224.openai", (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    ],
)
def test_normalisation_comes_from_the_timm_pretrained_cfg(name, mean, std):
    backbone = TimmBackbone(name, image_size=224 if "vit" in name else 64)
    assert backbone.mean == pytest.approx(mean) and backbone.std == pytest.approx(std)


def test_build_backbone_takes_a_timm_name_or_a_class_path():
    assert isinstance(build_backbone("test_convnext", image_size=64), TimmBackbone)
    backbone = build_backbone({"class_path": "tests.backbones.TwoScales", "init_args": {"width": 4}})
    assert isinstance(backbone, TwoScales) and isinstance(backbone, Backbone) and backbone.channels == [4, 8]


class NoChannels(torch.nn.Module):
    def forward(self, images):
        return [images]


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ({"class_path": "no.such.Module"}, ValueError, "cannot be imported"),
        ({"class_path": "tests.backbones.TwoScales", "args": {}}, ValueError, "unknown keys"),
        ({"class_path": f"{__name__}.NoChannels"}, TypeError, "channels: list"),
        (3, ValueError, "timm model name, a declared backbone name or"),
    ],
)
def test_build_backbone_errors_name_the_class_and_the_problem(spec, error, match):
    with pytest.raises(error, match=match):
        build_backbone(spec)


def test_timm_weights_options_refuse_a_class_path_backbone():
    with pytest.raises(ValueError, match="timm model names only"):
        build_backbone({"class_path": "tests.backbones.TwoScales"}, pretrained=True)


def test_short_names_besides_timm_come_from_the_installed_look_up(monkeypatch):
    monkeypatch.setattr(backbone_module, "_named_backbones", lambda: {"two": TwoScales, "resnet18": TwoScales})
    assert isinstance(build_backbone("two"), TwoScales)
    assert build_backbone({"class_path": "two", "init_args": {"width": 3}}).channels == [3, 6]
    assert isinstance(build_backbone("resnet18", image_size=64), TimmBackbone)  # a timm model of the name wins
    with pytest.raises(ValueError, match="timm model names only"):
        build_backbone("two", pretrained=True)
    with pytest.raises(ValueError, match=r"unknown backbone 'three': .* \(resnet18, two; see docs/plugins.md\)"):
        build_backbone("three")


def test_set_named_backbones_installs_the_look_up(monkeypatch):
    monkeypatch.setattr(backbone_module, "_named_backbones", None)  # as in a process that imported only model/
    with pytest.raises(ValueError, match="none are looked up yet .*facexformer.plugins.backbones"):
        build_backbone("two")
    set_named_backbones(lambda: {"two": TwoScales})
    assert isinstance(build_backbone("two"), TwoScales)
