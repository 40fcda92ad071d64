import torch

from facexformer.inference.cached_position import CachedPositionEncoding
from facexformer.model.position import RandomFourierPositionEncoding
from tests.model.test_position import reference


def test_cache_follows_loaded_weights_and_survives_inference_mode():
    pe = CachedPositionEncoding(4)
    with torch.inference_mode():
        first = pe(4, 4)
    assert not first.is_inference()
    torch.testing.assert_close(first, RandomFourierPositionEncoding.forward(pe, 4, 4), rtol=0, atol=0)
    pe.load_state_dict({"gaussian_matrix": torch.ones(2, 4)})
    torch.testing.assert_close(pe(4, 4), reference(torch.ones(2, 4), 4, 4), rtol=1e-5, atol=1e-5)
    assert pe(4, 4) is pe(4, 4)
    assert pe(4, 5).shape == (1, 8, 4, 5)


def test_encoding_of_a_module_made_under_inference_mode():
    """Built (or cast, or loaded) under inference_mode, the matrix is an inference tensor without a version."""
    source = RandomFourierPositionEncoding(8)
    with torch.inference_mode():
        made = CachedPositionEncoding(8)
        made.load_state_dict(source.state_dict())
        assert made.gaussian_matrix.is_inference()
        first = made(4, 5)
        made.gaussian_matrix.mul_(2)  # changed in place: no stale result
        second = made(4, 5)
    assert torch.equal(first, source(4, 5)) and not torch.equal(first, second)
