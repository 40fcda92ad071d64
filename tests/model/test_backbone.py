import pytest
import torch

from facexformer.model.backbone import TimmBackbone


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
