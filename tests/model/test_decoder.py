import torch
from einops import rearrange

from facexformer.model.decoder import Attention, TwoWayDecoder


def multi_head_attention(attention: Attention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The textbook computation: project, split heads, softmax(q k^T / sqrt(d)) v, merge heads, project."""
    heads = [
        rearrange(p(x), "b n (h d) -> b h n d", h=attention.num_heads)
        for p, x in ((attention.q_proj, q), (attention.k_proj, k), (attention.v_proj, v))
    ]
    scores = heads[0] @ heads[1].transpose(-1, -2) / heads[0].shape[-1] ** 0.5
    return attention.out_proj(rearrange(scores.softmax(-1) @ heads[2], "b h n d -> b n (h d)"))


def test_attention_is_multi_head_attention():
    torch.manual_seed(0)
    attention = Attention(32, num_heads=4, downsample=2).double()
    for p in attention.parameters():
        torch.nn.init.normal_(p, std=0.3)
    q, k, v = torch.randn(2, 7, 32).double(), torch.randn(2, 49, 32).double(), torch.randn(2, 49, 32).double()
    torch.testing.assert_close(attention(q, k, v), multi_head_attention(attention, q, k, v), rtol=0, atol=1e-12)


def test_extra_tokens_leave_tokens_and_image_bit_identical():
    torch.manual_seed(0)
    decoder = TwoWayDecoder(dim=32, depth=2, num_heads=4, mlp_dim=64).eval()
    image, pe = torch.randn(2, 32, 7, 7), torch.randn(1, 32, 7, 7)
    tokens, extra = torch.randn(2, 5, 32), torch.randn(2, 3, 32)
    with torch.no_grad():
        alone, image_alone = decoder(image, pe, tokens)
        both, image_both = decoder(image, pe, tokens, extra)
        other_extra, _ = decoder(image, pe, tokens, extra * 2)
    assert both.shape == (2, 8, 32)
    assert torch.equal(both[:, :5], alone) and torch.equal(image_both, image_alone)
    # the extra tokens read the others: a change of the task tokens reaches them
    with torch.no_grad():
        moved, _ = decoder(image, pe, tokens + 1, extra)
    assert not torch.allclose(moved[:, 5:], both[:, 5:])
    assert not torch.allclose(other_extra[:, 5:], both[:, 5:])


def test_joint_attention_without_extra_tokens_mixes_all_tokens():
    """Without the split, every token reads every other one (the trained-from-scratch model)."""
    torch.manual_seed(0)
    decoder = TwoWayDecoder(dim=32, depth=2, num_heads=4, mlp_dim=64).eval()
    image, pe = torch.randn(1, 32, 7, 7), torch.randn(1, 32, 7, 7)
    tokens = torch.randn(1, 5, 32)
    with torch.no_grad():
        first, _ = decoder(image, pe, tokens)
        changed = tokens.clone()
        changed[:, 4] += 1
        second, _ = decoder(image, pe, changed)
    assert not torch.allclose(first[:, :4], second[:, :4])
