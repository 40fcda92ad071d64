"""The README's notebook snippet runs as written (on a tiny model standing in for the released weights, which
cannot be downloaded here) and gives the output shapes the README lists."""

import re
from pathlib import Path

import torch

from facexformer import FaceXFormer

README = Path(__file__).resolve().parents[1] / "README.md"


def notebook_snippet() -> str:
    section = README.read_text().split("## In a notebook", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_notebook_snippet_runs_as_written(monkeypatch, tiny_kwargs):
    model = FaceXFormer(**{**tiny_kwargs, "image_size": 224}).eval()
    monkeypatch.setattr(FaceXFormer, "from_pretrained", classmethod(lambda cls, source, **kw: model))
    namespace: dict = {}
    exec(compile(notebook_snippet(), str(README), "exec"), namespace)
    assert namespace["images"].shape == (1, 3, 224, 224) and namespace["images"].dtype == torch.float32
    assert set(namespace["outputs"]) == {"landmarks"} and namespace["outputs"]["landmarks"].shape == (1, 68, 2)


INFERENCE_DOC = README.parent / "docs" / "inference.md"


def onnx_snippet() -> dict:
    """The names the docs' "ONNX outside the package" code defines."""
    section = INFERENCE_DOC.read_text().split("### ONNX outside the package", 1)[1]
    namespace: dict = {}
    exec(compile(re.search(r"```python\n(.*?)```", section, re.S).group(1), str(INFERENCE_DOC), "exec"), namespace)
    return namespace


def test_the_readme_says_heatmap_models_return_heatmaps():
    text = " ".join(README.read_text().split())
    assert "returns heatmaps instead, (B, N, h, w)" in text and "docs/inference.md#onnx-outside-the-package" in text


def test_the_docs_heatmap_decoder_matches_the_package(tiny_kwargs):
    decode = onnx_snippet()["decode_landmarks"]
    torch.manual_seed(0)
    for init_args in (
        {"num_points": 5, "head": "heatmap", "heatmap_size": 16, "loss": "star"},
        {"num_points": 5, "head": "heatmap", "heatmap_size": 16, "loss": "awing", "sigma": 1.5},
        {"num_points": 5},
    ):
        model = FaceXFormer(tasks=[{"class_path": "landmarks", "init_args": init_args}], **tiny_kwargs).eval()
        task = model.task("landmarks")
        with torch.no_grad():
            raw = model(torch.randn(2, 3, 64, 64))["landmarks"]
        expected = task.decode(raw, 64)
        config = task.to_config()["init_args"]
        for i in range(2):
            got = decode(raw[i].numpy().astype("float64"), 64, config)
            torch.testing.assert_close(torch.from_numpy(got).float(), expected[i].float(), atol=1e-3, rtol=1e-4)


def test_the_docs_onnx_code_runs_an_exported_heatmap_model(tmp_path, tiny_kwargs):
    import numpy as np
    import pytest

    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from facexformer.apps.export import export_model

    init_args = {"num_points": 5, "head": "heatmap", "heatmap_size": 16, "loss": "star"}
    model = FaceXFormer(tasks=[{"class_path": "landmarks", "init_args": init_args}], **tiny_kwargs).eval()
    path = export_model(model, tmp_path / "m.onnx", "onnx")
    crop = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    points = onnx_snippet()["run"](str(path), crop)["landmarks"]
    images = model.normalize(torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255)
    with torch.no_grad():
        expected = model.task("landmarks").decode(model(images)["landmarks"], 64)[0]
    torch.testing.assert_close(torch.from_numpy(points).float(), expected, atol=1e-2, rtol=1e-3)
