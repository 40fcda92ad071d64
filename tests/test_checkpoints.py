import sys

import pytest
import torch
import torchvision

from facexformer import FaceXFormer
from facexformer.checkpoints import convert_official_state_dict, safe_torch_load, write_atomically
from facexformer.model.backbone import TimmBackbone


@pytest.fixture(scope="module")
def official(shared_dir, tmp_path_factory):
    """The parity fixture: a released-format checkpoint (seed 0), its images and the released outputs."""
    folder = shared_dir / "reference" / "facexformer-official"
    sys.path.insert(0, str(folder))
    try:
        from make_checkpoint import fingerprint, make_images, make_state_dict
    finally:
        sys.path.remove(str(folder))
    expected = torch.load(folder / "expected_seed0.pt", weights_only=True)
    state = make_state_dict(0)
    assert fingerprint(state) == expected["checkpoint_sha256"]
    images = make_images(0, expected["batch"])
    assert fingerprint(images) == expected["images_sha256"]
    path = tmp_path_factory.mktemp("official") / "model.pt"
    torch.save({"state_dict_backbone": state}, path)
    return path, images, expected["outputs"]


def test_released_checkpoint_gives_released_outputs(official):
    path, images, expected = official
    model = FaceXFormer.from_pretrained(path)
    with torch.no_grad():
        outputs = model(images)
        landmarks_only = model(images, tasks=["landmarks"])
    assert set(outputs) == set(expected)
    for name, value in outputs.items():
        assert (value - expected[name].reshape(value.shape)).abs().max() <= 1e-4, name
    assert (landmarks_only["landmarks"] - expected["landmarks"]).abs().max() <= 1e-4


def test_bf16_autocast_landmarks_stay_close(official):
    path, images, expected = official
    model = FaceXFormer.from_official_checkpoint(path)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        landmarks = model(images, tasks=["landmarks"])["landmarks"].float()
    assert (landmarks - expected["landmarks"]).abs().max() <= 2e-2


def test_bf16_weights_stay_close(official):
    """``model.to(torch.bfloat16)`` (decoder included) on the parity fixture.

    The fixture's random weights give parsing logits with tiny margins (median top-2 gap 0.05, 10% of pixels
    under 0.008) while bf16 arithmetic moves logits by up to ~0.06, so near-ties flip: overall agreement is
    ~96% (bf16 autocast with a float32 decoder: ~97%). Where the float32 gap exceeds 0.02, argmaxes agree.
    """
    path, images, expected = official
    model = FaceXFormer.from_official_checkpoint(path).to(torch.bfloat16)
    with torch.no_grad():
        outputs = model(images)
    assert outputs["landmarks"].dtype == torch.bfloat16
    assert (outputs["landmarks"].float() - expected["landmarks"]).abs().max() <= 2e-2
    assert (outputs["headpose"] - expected["headpose"].reshape(-1, 3)).abs().max() <= 2e-2
    logits = expected["parsing"].reshape(outputs["parsing"].shape)
    agree = outputs["parsing"].argmax(1) == logits.argmax(1)
    top2 = logits.topk(2, dim=1).values
    clear = top2[:, 0] - top2[:, 1] > 0.02
    assert clear.float().mean() >= 0.7
    assert agree[clear].float().mean() >= 0.99
    assert agree.float().mean() >= 0.95


def test_extra_task_gets_fresh_weights(official):
    path, images, expected = official
    model = FaceXFormer.from_official_checkpoint(path, tasks=["landmarks", "gender", "expression"])
    with torch.no_grad():
        out = model(images)
    assert out["expression"].shape == (2, 7)
    released = FaceXFormer.from_official_checkpoint(path)
    torch.testing.assert_close(model.net.heads["gender"].state_dict(), released.net.heads["gender"].state_dict())


def test_torchvision_swin_converts_exactly():
    """Random torchvision swin_t weights, renamed by the released-file rules, give identical stage outputs."""
    torch.manual_seed(0)
    tv = torchvision.models.swin_t().eval()
    released = {f"backbone.0.{k}": v for k, v in tv.features.state_dict().items()}
    released.update({f"backbone.1.{k}": v for k, v in tv.norm.state_dict().items()})
    converted = convert_official_state_dict(released, tasks=[])
    backbone = TimmBackbone("swin_tiny_patch4_window7_224").eval()
    result = backbone.load_state_dict({k.removeprefix("backbone."): v for k, v in converted.items()}, strict=False)
    assert not result.unexpected_keys
    assert all(k.endswith(("relative_position_index", "attn_mask")) for k in result.missing_keys)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        ours = backbone(x)
        taps, y = [], x
        for i, stage in enumerate(tv.features):
            y = stage(y)
            if i in (1, 3, 5, 7):
                taps.append(y.permute(0, 3, 1, 2))
    for a, b in zip(ours, taps, strict=True):
        assert torch.equal(a, b)


def test_unknown_released_key_is_reported():
    with pytest.raises(KeyError, match="face_decoder.smile_token.weight"):
        convert_official_state_dict({"face_decoder.smile_token.weight": torch.zeros(1, 4)}, tasks=[])


class NotATensor:
    pass


def test_pickles_that_need_code_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict_backbone": NotATensor()}, path)
    with pytest.raises(ValueError, match="refusing to load"):
        safe_torch_load(path)
    with pytest.raises(ValueError, match="refusing to load"):
        FaceXFormer.from_pretrained(path)


def test_offline_hub_id_says_how_to_download():
    with pytest.raises(FileNotFoundError, match="huggingface-cli download kartiknarayan/facexformer ckpts/model.pt"):
        FaceXFormer.from_pretrained("kartiknarayan/facexformer")


def test_atomic_write_never_overwrites_silently(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("mine")
    with pytest.raises(FileExistsError):
        write_atomically(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "mine"

    def failing(tmp):
        tmp.write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(target, failing, overwrite=True)
    assert target.read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]
