import torch

from facexformer.model.decoder import TwoWayDecoder


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
