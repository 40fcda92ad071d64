import torch

from facexformer.inference.softmax import SoftmaxInFloat32, softmax_last_dim


def test_float32_softmax_is_nn_softmax_in_float32_and_rounds_once_in_low_precision():
    x = torch.randn(3, 4, 49) * 5
    assert torch.equal(SoftmaxInFloat32(-1)(x), torch.nn.Softmax(-1)(x))
    assert torch.equal(softmax_last_dim(x), x.softmax(-1))
    for dtype in (torch.bfloat16, torch.float16):
        low = x.to(dtype)
        expected = low.float().softmax(-1).to(dtype)
        assert SoftmaxInFloat32(-1)(low).dtype == dtype
        assert torch.equal(SoftmaxInFloat32(-1)(low), expected) and torch.equal(softmax_last_dim(low), expected)
        assert torch.equal(SoftmaxInFloat32(1)(low), low.float().softmax(1).to(dtype))
        assert torch.equal(torch.nn.Softmax(-1)(low), expected)  # the same numbers as torch's own kernel
