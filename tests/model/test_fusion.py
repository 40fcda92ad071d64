import torch
import torch.nn.functional as F

from facexformer.model.fusion import MultiScaleFusion


def test_fusion_is_projection_resize_concat_deepest_first_and_1x1_conv():
    """One scale at a time: each projected scale reaches the output only through its block of the 1x1 conv."""
    torch.manual_seed(0)
    fusion = MultiScaleFusion([8, 16], dim=4).double()
    features = [torch.randn(1, 8, 6, 6, dtype=torch.float64), torch.randn(1, 16, 3, 3, dtype=torch.float64)]
    fuse = fusion.fuse.weight.flatten(1)
    fine = torch.einsum(
        "oc,bchw->bohw", fuse[:, 4:], fusion.proj[0](features[0].permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    )
    coarse = fusion.proj[1](features[1].permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    coarse = F.interpolate(coarse, size=(6, 6), mode="bilinear", align_corners=False)
    expected = fine + torch.einsum("oc,bchw->bohw", fuse[:, :4], coarse)
    assert fusion(features).shape == (1, 4, 6, 6)
    torch.testing.assert_close(fusion(features), expected, rtol=1e-12, atol=1e-12)


def test_scale_order_matters():
    torch.manual_seed(0)
    fusion = MultiScaleFusion([8, 8], dim=8)
    features = [torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4)]
    swapped = [features[0], features[1].flip(-1)]
    assert not torch.allclose(fusion(features), fusion(swapped))
