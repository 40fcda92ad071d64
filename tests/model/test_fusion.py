import torch
import torch.nn.functional as F

from facexformer.model.fusion import MultiScaleFusion


def reference_fusion(fusion: MultiScaleFusion, features: list[torch.Tensor]) -> torch.Tensor:
    """The released order of operations: project, resize, concat deepest first, 1x1 conv."""
    size = features[0].shape[-2:]
    projected = []
    for x, proj in zip(features, fusion.proj, strict=True):
        y = proj(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        projected.append(F.interpolate(y, size=size, mode="bilinear", align_corners=False))
    return fusion.fuse(torch.cat(projected[::-1], dim=1))


def test_folded_fusion_equals_the_released_order():
    torch.manual_seed(0)
    fusion = MultiScaleFusion([8, 16, 32, 64], dim=16).double()
    features = [torch.randn(2, c, 28 // 2**i, 28 // 2**i, dtype=torch.float64) for i, c in enumerate([8, 16, 32, 64])]
    torch.testing.assert_close(fusion(features), reference_fusion(fusion, features), rtol=1e-12, atol=1e-12)


def test_scale_order_matters():
    torch.manual_seed(0)
    fusion = MultiScaleFusion([8, 8], dim=8)
    features = [torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4)]
    swapped = [features[0], features[1].flip(-1)]
    assert not torch.allclose(fusion(features), fusion(swapped))
