import pytest
import torch

from facexformer.inference.folded import FoldedAttention, FoldedFusion
from facexformer.model.decoder import Attention
from facexformer.model.fusion import MultiScaleFusion
from tests.model.test_decoder import multi_head_attention


@pytest.mark.parametrize(("queries", "keys"), [(49, 5), (5, 49), (5, 5)])
def test_folded_attention_is_multi_head_attention(queries, keys):
    """Few keys (face tokens reading task tokens), few queries (the reverse) and neither give the same result."""
    torch.manual_seed(0)
    attention = FoldedAttention(32, num_heads=4, downsample=2).double()
    for p in attention.parameters():  # non-zero biases, so that folding them wrongly shows
        torch.nn.init.normal_(p, std=0.3)
    q, k, v = torch.randn(2, queries, 32).double(), torch.randn(2, keys, 32).double(), torch.randn(2, keys, 32).double()
    expected = multi_head_attention(attention, q, k, v)
    assert torch.allclose(attention(q, k, v), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("queries", "keys"), [(49, 5), (5, 49), (5, 5)])
def test_every_parameter_takes_part_in_the_loss(queries, keys):
    """DDP (without find_unused_parameters) fails on a parameter outside the graph: the key bias, which softmax
    ignores, must still be added when the few queries fold the key projection."""
    attention = FoldedAttention(32, num_heads=4, downsample=2)
    attention(torch.randn(2, queries, 32), torch.randn(2, keys, 32), torch.randn(2, keys, 32)).sum().backward()
    assert [name for name, p in attention.named_parameters() if p.grad is None] == []


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_folded_attention_in_low_precision_stays_close(dtype):
    torch.manual_seed(0)
    attention = Attention(64, num_heads=8, downsample=2)
    q, k = torch.randn(2, 400, 64), torch.randn(2, 18, 64)
    for a, b in ((q, k), (k, q)):
        expected = multi_head_attention(attention, a, b, b)
        low = FoldedAttention(64, num_heads=8, downsample=2).to(dtype)
        low.load_state_dict(attention.state_dict())
        out = low(a.to(dtype), b.to(dtype), b.to(dtype))
        assert out.dtype == dtype
        assert (out.float() - expected).abs().max() <= 0.05 * expected.abs().max()


def test_folded_fusion_equals_the_fusion():
    torch.manual_seed(0)
    fusion = MultiScaleFusion([8, 16, 32, 64], dim=16).double()
    fast = FoldedFusion([8, 16, 32, 64], dim=16).double()
    fast.load_state_dict(fusion.state_dict())
    features = [torch.randn(2, c, 28 // 2**i, 28 // 2**i, dtype=torch.float64) for i, c in enumerate([8, 16, 32, 64])]
    expected = fusion(features)
    torch.testing.assert_close(fast(features), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fast(features, fast.folded_weights()), expected, rtol=1e-12, atol=1e-12)
