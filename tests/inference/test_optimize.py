import lightning as L
import pytest
import torch
from torch import nn

import facexformer.inference.optimize as optimize
from facexformer import FaceXFormer
from facexformer.data import MultiTaskDataModule, SyntheticFaces
from facexformer.inference import pipeline, predict
from facexformer.inference.cached_position import CachedPositionEncoding
from facexformer.inference.folded import FoldedAttention, FoldedFusion
from facexformer.inference.onednn_linear import OneDnnLinear
from facexformer.inference.optimize import InferenceNet, optimize_for_inference
from facexformer.inference.softmax import SoftmaxInFloat32
from facexformer.model.decoder import Attention


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return FaceXFormer(backbone="test_convnext", image_size=64, dim=32, decoder_mlp_dim=64).eval()


def test_the_copy_shares_the_weights_and_leaves_the_network_as_built(model):
    net = model.net.train()
    fast = optimize_for_inference(net)
    assert type(fast) is InferenceNet and not fast.training and net.training
    assert list(fast.state_dict()) == list(net.state_dict())
    assert all(a is b for a, b in zip(fast.parameters(), net.parameters(), strict=True))
    assert all(a is b for a, b in zip(fast.buffers(), net.buffers(), strict=True))
    assert isinstance(fast.fusion, FoldedFusion) and isinstance(fast.position, CachedPositionEncoding)
    attentions = [m for m in fast.modules() if isinstance(m, Attention)]
    assert attentions and all(isinstance(m, FoldedAttention) for m in attentions)
    linears = [m for m in fast.modules() if isinstance(m, nn.Linear)]
    assert linears and all(isinstance(m, OneDnnLinear) for m in linears)
    assert any(m.activation != "none" for m in linears)  # the MLPs' activations folded in
    assert all(type(m) is nn.Linear for m in net.modules() if isinstance(m, nn.Linear))
    assert not any(isinstance(m, FoldedAttention | FoldedFusion | CachedPositionEncoding) for m in net.modules())
    net.eval()


def test_inference_equals_the_network_as_built(model):
    """The speed-ups change the order of float operations, not the function."""
    x = torch.randn(5, 3, 64, 64)
    fast = optimize_for_inference(model.net)
    with torch.no_grad():
        expected, fast_outputs = model.net(x), fast(x)
    linears = [m for m in fast.modules() if isinstance(m, OneDnnLinear)]
    called = [m for m in linears if m._packed is not None]  # the folded attention reads some weights only
    assert len(called) > len(linears) / 2
    assert list(fast_outputs) == list(expected)
    for name, out in fast_outputs.items():
        torch.testing.assert_close(out, expected[name], rtol=1e-4, atol=1e-5)


def test_cpu_inference_in_chunks_equals_whole_batch(model):
    x = torch.randn(5, 3, 64, 64)
    fast = optimize_for_inference(model.net)
    whole_net = optimize_for_inference(model.net, chunk_size=None)
    calls = []
    for net in (fast, whole_net):
        net.decoder.register_forward_hook(lambda m, a, o: calls.append(a[0].shape[0]))
    with torch.no_grad():
        chunked, whole = fast(x), whole_net(x)
    assert calls == [2, 2, 1, 5]
    for name in whole:
        torch.testing.assert_close(chunked[name], whole[name], rtol=1e-4, atol=1e-5)


def test_a_forward_with_autograd_runs_the_whole_batch_at_once(model):
    fast = optimize_for_inference(model.net)
    calls = []
    fast.decoder.register_forward_hook(lambda m, a, o: calls.append(a[0].shape[0]))
    fast(torch.randn(5, 3, 64, 64), tasks=["landmarks"])["landmarks"].sum().backward()
    model.zero_grad()
    assert calls == [5]


def test_the_copy_follows_weights_loaded_into_the_network(tiny_kwargs):
    torch.manual_seed(0)
    model, other = FaceXFormer(tasks=["gender"], **tiny_kwargs), FaceXFormer(tasks=["gender"], **tiny_kwargs)
    x = torch.randn(2, 3, 64, 64)
    fast = optimize_for_inference(model.net)
    with torch.no_grad():
        fast(x)
        model.net.load_state_dict(other.net.state_dict())
        torch.testing.assert_close(fast(x), other.net.eval()(x), rtol=1e-4, atol=1e-5)


def test_window_softmax_of_a_swin_backbone_runs_in_float32():
    model = FaceXFormer(tasks=["gender"], backbone="swin_tiny_patch4_window7_224", image_size=224, dim=32)
    fast = optimize_for_inference(model.net)
    softmaxes = [m for m in fast.backbone.modules() if isinstance(m, nn.Softmax)]
    assert len(softmaxes) == 12 and all(isinstance(m, SoftmaxInFloat32) and m.dim == -1 for m in softmaxes)
    assert not any(isinstance(m, SoftmaxInFloat32) for m in model.net.modules())


def test_only_a_network_is_optimized(model):
    with pytest.raises(TypeError, match="takes a FaceXFormerNet, got FaceXFormer"):
        optimize_for_inference(model)


def test_fit_and_its_validation_run_the_network_as_built(tiny_kwargs, monkeypatch, tmp_path):
    """Training never makes the inference copy, so no validation during fit can run a packed oneDNN weight that
    an optimizer step left stale (fused AdamW updates weights without bumping their version counters)."""

    def refuse(net):
        raise AssertionError("fit called optimize_for_inference")

    for module in (optimize, predict, pipeline):
        monkeypatch.setattr(module, "optimize_for_inference", refuse)
    torch.manual_seed(0)
    data = MultiTaskDataModule(
        train={"s": SyntheticFaces(8, 64)}, val={"s": SyntheticFaces(4, 64, seed=1)}, batch_size=4, augment={}
    )
    model = FaceXFormer(tasks=["landmarks", "gender"], **tiny_kwargs)
    trainer = L.Trainer(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        use_distributed_sampler=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, data)
    assert "val/landmarks/nme" in trainer.callback_metrics
    assert all(type(m).__module__.startswith(("facexformer.model.", "torch.", "timm.")) for m in model.net.modules())
