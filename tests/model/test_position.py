import torch

from facexformer.model.position import RandomFourierPositionEncoding


def reference(matrix: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Direct formula, one pixel at a time."""
    out = torch.empty(2 * matrix.shape[1], h, w)
    for r in range(h):
        for c in range(w):
            p = torch.tensor([2 * (c + 0.5) / w - 1, 2 * (r + 0.5) / h - 1])
            e = 2 * torch.pi * (p @ matrix)
            out[:, r, c] = torch.cat([e.sin(), e.cos()])
    return out[None]


def test_encoding_matches_the_formula_x_first():
    pe = RandomFourierPositionEncoding(4)
    torch.testing.assert_close(pe(3, 5), reference(pe.gaussian_matrix, 3, 5), rtol=1e-5, atol=1e-5)


def test_cache_follows_loaded_weights_and_survives_inference_mode():
    pe = RandomFourierPositionEncoding(4)
    with torch.inference_mode():
        first = pe(4, 4)
    assert not first.is_inference()
    pe.load_state_dict({"gaussian_matrix": torch.ones(2, 4)})
    torch.testing.assert_close(pe(4, 4), reference(torch.ones(2, 4), 4, 4), rtol=1e-5, atol=1e-5)
    assert pe(4, 4) is pe(4, 4)


def test_encoding_of_a_module_made_under_inference_mode():
    """Built (or cast, or loaded) under inference_mode, the matrix is an inference tensor without a version."""
    source = RandomFourierPositionEncoding(8)
    with torch.inference_mode():
        made = RandomFourierPositionEncoding(8)
        made.load_state_dict(source.state_dict())
        assert made.gaussian_matrix.is_inference()
        first = made(4, 5)
        made.gaussian_matrix.mul_(2)  # changed in place: no stale result
        second = made(4, 5)
    assert torch.equal(first, source(4, 5)) and not torch.equal(first, second)
