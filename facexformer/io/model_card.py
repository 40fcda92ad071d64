"""The ``README.md`` model card of a ``save_pretrained`` folder: Hub metadata, tasks, backbone, test metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def model_card(config: Mapping[str, Any], metrics: Mapping[str, float] | None = None) -> str:
    """Markdown with a YAML header (``library_name``, ``tags``) for ``config`` (constructor arguments) and,
    if given, a table of ``metrics`` (e.g. the last ``test/...`` values)."""
    from huggingface_hub import ModelCardData

    tasks = [task_name(t) for t in config.get("tasks") or []]
    data = ModelCardData(library_name="facexformer", tags=["facexformer", "face", "pytorch_model_hub_mixin", *tasks])
    lines = [
        "---",
        data.to_yaml(),
        "---",
        "",
        "# FaceXFormer",
        "",
        "One transformer for many face tasks, saved by the `facexformer` package. Load it with",
        "",
        "```python",
        "from facexformer import FaceXFormer",
        "",
        'model = FaceXFormer.from_pretrained("<this folder or repo id>")',
        "```",
        "",
        "| setting | value |",
        "|---|---|",
        f"| tasks | {', '.join(tasks) or '(released defaults)'} |",
        f"| backbone | `{config.get('backbone')}` |",
        f"| input | {config.get('image_size')} px, mean {config.get('pixel_mean')}, std {config.get('pixel_std')} |",
        f"| width, decoder blocks, heads | {config.get('dim')}, {config.get('decoder_depth')}, "
        f"{config.get('decoder_heads')} |",
    ]
    if metrics:
        lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {name} | {float(value):.4f} |" for name, value in sorted(metrics.items())]
    return "\n".join(lines) + "\n"


def task_name(spec: Any) -> str:
    """The registered name of a task entry (a name or a ``{"class_path", "init_args"}`` dict)."""
    from facexformer.tasks import TASKS

    path = str(spec.get("class_path", "?")) if isinstance(spec, Mapping) else str(spec)
    by_path = {f"{c.__module__}.{c.__qualname__}": name for name, c in TASKS.items()}
    return by_path.get(path, path.rpartition(".")[2])
