import pytest
import torch

from facexformer import FaceXFormer
from facexformer.model.heads import Float32TokenHead, TokenHead
from facexformer.model.position import RandomFourierPositionEncoding
from facexformer.model.precision import compute_dtype


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_float32_modules_keep_their_weights_when_the_model_is_lowered(dtype):
    torch.manual_seed(0)
    head, plain = Float32TokenHead(8, (3,)), TokenHead(8, (3,))
    pe = RandomFourierPositionEncoding(4)
    matrix = pe.gaussian_matrix.clone()
    for module in (head, plain, pe):
        module.to(dtype)
    assert {p.dtype for p in head.parameters()} == {torch.float32}
    assert {p.dtype for p in plain.parameters()} == {dtype}
    assert torch.equal(pe.gaussian_matrix, matrix)  # not rounded through bf16/fp16 and back
    out = head(torch.randn(2, 1, 8, dtype=dtype))
    assert out.dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert head(torch.randn(2, 1, 8)).dtype == torch.float32


def test_float32_modules_still_follow_double_precision():
    head = Float32TokenHead(8, (3,)).double()
    assert {p.dtype for p in head.parameters()} == {torch.float64}


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.bfloat16, 3e-2), (torch.float16, 4e-3)])
def test_model_cast_to_low_precision_runs_and_stays_close(tiny_kwargs, dtype, tolerance):
    torch.manual_seed(0)
    model = FaceXFormer(**tiny_kwargs).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        reference = model(images)
        lowered = model.to(dtype)  # weights cast once, in place
        outputs = lowered(images)  # float32 images are cast to the backbone's dtype
    assert compute_dtype(model.net.backbone) == dtype and compute_dtype(model.net.decoder) == dtype
    assert model.net.position.gaussian_matrix.dtype == torch.float32
    assert {p.dtype for p in model.net.heads["headpose"].parameters()} == {torch.float32}
    assert outputs["headpose"].dtype == torch.float32 and outputs["landmarks"].dtype == dtype
    for name, value in outputs.items():
        assert value.shape == reference[name].shape
        assert (value.float() - reference[name]).abs().max() <= tolerance, name
    decoded = model.task("landmarks").decode(outputs["landmarks"], 64)
    assert decoded.dtype == torch.float32  # pixels are not rounded to bf16 (1 px steps near 200)
