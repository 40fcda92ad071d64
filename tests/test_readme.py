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
