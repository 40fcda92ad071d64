import json

import numpy as np
import pytest
import torch

from facexformer.apps import export
from facexformer.module import FaceXFormer

TINY = {"backbone": "test_convnext", "image_size": 64, "dim": 32, "decoder_mlp_dim": 64}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return str(FaceXFormer(**TINY).save_pretrained(tmp_path_factory.mktemp("model") / "tiny"))


def eager(checkpoint, images, tasks):
    model = FaceXFormer.from_pretrained(checkpoint)
    with torch.no_grad():
        outputs = model(images, tasks)
    return [outputs[name] for name in tasks]


def test_torchscript_matches_eager(checkpoint, tmp_path):
    out = tmp_path / "model.ts"
    tasks = ["parsing", "landmarks", "gender"]
    args = ["--checkpoint", checkpoint, "--format", "torchscript", "--out", str(out), "--tasks", *tasks]
    assert export.main(args) == 0
    extra = {export.METADATA_NAME: ""}
    loaded = torch.jit.load(str(out), _extra_files=extra)
    metadata = json.loads(extra[export.METADATA_NAME])
    assert metadata["outputs"] == tasks and metadata["image_size"] == 64
    # the normalisation the model was built with (test_convnext's pretrained_cfg), saved with it
    assert metadata["mean"] == pytest.approx([0.5, 0.5, 0.5])
    assert metadata["std"] == FaceXFormer.from_pretrained(checkpoint).normalization["std"]
    crop = {"size": 64, "margin": 0.25, "square": False, "zoom": 1.0, "interpolation": "bicubic", "clip": True}
    assert metadata["crop"] == crop  # the released crop, the default
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        got = loaded(images)
    assert len(got) == 3
    for name, a, b in zip(tasks, got, eager(checkpoint, images, tasks), strict=True):
        assert a.shape == b.shape, name
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_onnx_matches_eager(checkpoint, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="no onnxruntime (pip install facexformer[export])")
    pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs onnxscript")
    out = tmp_path / "model.onnx"
    tasks = ["headpose", "parsing", "landmarks"]
    assert export.main(["--checkpoint", checkpoint, "--format", "onnx", "--out", str(out), "--tasks", *tasks]) == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == tasks
    assert [i.name for i in session.get_inputs()] == ["images"]
    metadata = session.get_modelmeta().custom_metadata_map
    assert json.loads(metadata[export.METADATA_NAME])["outputs"] == tasks
    images = torch.randn(3, 3, 64, 64)  # another batch size than the traced example
    got = session.run(None, {"images": images.numpy()})
    for name, a, b in zip(tasks, got, eager(checkpoint, images, tasks), strict=True):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-4, rtol=1e-3, err_msg=name)


def test_existing_files_are_kept_unless_overwrite(checkpoint, tmp_path, capsys):
    out = tmp_path / "model.ts"
    out.write_bytes(b"precious")
    args = ["--checkpoint", checkpoint, "--format", "torchscript", "--out", str(out), "--tasks", "age"]
    with pytest.raises(SystemExit, match="2"):
        export.main(args)
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == b"precious"
    assert export.main(args + ["--overwrite"]) == 0
    assert torch.jit.load(str(out))(torch.zeros(1, 3, 64, 64))[0].shape == (1, 8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ts"]


def test_errors(checkpoint, tmp_path, capsys):
    out = str(tmp_path / "x.onnx")
    args = ["--checkpoint", checkpoint, "--format", "onnx", "--out", out]
    with pytest.raises(SystemExit, match="2"):
        export.main(args + ["--tasks", "expression"])
    assert "no task 'expression'" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="2"):
        export.main(["--checkpoint", checkpoint, "--format", "tflite", "--out", out])
    assert "--format" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown export format"):
        export.export_model(FaceXFormer(**TINY), out, format="tflite")
