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


def test_encoding_under_inference_mode_and_autocast_is_float32():
    pe = RandomFourierPositionEncoding(4)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        encoding = pe(3, 5)
    assert encoding.dtype == torch.float32
    torch.testing.assert_close(encoding, reference(pe.gaussian_matrix, 3, 5), rtol=1e-5, atol=1e-5)
