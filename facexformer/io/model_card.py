"""The ``README.md`` model card of a ``save_pretrained`` folder: Hub metadata (licence, datasets, base model,
tasks, evaluation results) and the same facts as text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: the Hub id of the released FaceXFormer checkpoint
RELEASED_MODEL = "kartiknarayan/facexformer"
#: task -> the datasets the paper trains it on (arXiv 2403.12960 v3, §4.1 and App. F)
RELEASED_TRAINING_DATA = {
    "parsing": ("CelebAMask-HQ",),
    "landmarks": ("300W",),
    "headpose": ("300W-LP",),
    "attributes": ("CelebA",),
    "age": ("UTKFace", "FairFace"),
    "gender": ("UTKFace", "FairFace"),
    "race": ("UTKFace", "FairFace"),
    "visibility": ("COFW",),
    "expression": ("RAF-DB",),
    "recognition": ("MS1MV3",),
}
LICENCE_TEXT = (
    "The `facexformer` code is MIT-licensed. These weights are not covered by that alone: they were trained on "
    "face datasets whose terms apply to them, and several of those (CelebA, CelebAMask-HQ, 300W, COFW, RAF-DB, "
    "UTKFace, ...) are for non-commercial research only. Weights that start from the released FaceXFormer "
    f"checkpoint (`{RELEASED_MODEL}`) also carry that checkpoint's terms. Check each before any other use."
)


def model_card(
    config: Mapping[str, Any],
    metrics: Mapping[str, float] | None = None,
    datasets: Sequence[str] | None = None,
) -> str:
    """Markdown with a Hub metadata header for ``config`` (constructor arguments); ``metrics`` (e.g. the last
    ``test/...`` values) become the evaluation table and the ``model-index``; ``datasets`` are the training
    data's names (default: the paper's training sets of the tasks when the model starts from the released
    checkpoint, else none recorded)."""
    from huggingface_hub import ModelCardData

    tasks = [task_name(t) for t in config.get("tasks") or []]
    base = base_model(config)
    if datasets is None:
        datasets = released_training_data(tasks) if base == RELEASED_MODEL else []
    data = ModelCardData(
        library_name="facexformer",
        license="other",
        license_name="mit-code-and-dataset-terms",
        license_link="LICENSE",
        tags=["facexformer", "face", "pytorch", *tasks],
        datasets=list(datasets) or None,
        base_model=base,
        pipeline_tag="image-feature-extraction",
        model_name="FaceXFormer",
        eval_results=evaluation_results(metrics or {}, datasets),
    )
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
        f"| base model | {base or 'none (trained from scratch or from the backbone ImageNet weights)'} |",
        f"| training data | {', '.join(datasets) or 'not recorded'} |",
        f"| input | {config.get('image_size')} px, mean {config.get('pixel_mean')}, std {config.get('pixel_std')} |",
        f"| width, decoder blocks, heads | {config.get('dim')}, {config.get('decoder_depth')}, "
        f"{config.get('decoder_heads')} |",
        "",
        "## Licence",
        "",
        LICENCE_TEXT,
    ]
    if metrics:
        lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {name} | {float(value):.4f} |" for name, value in sorted(metrics.items())]
    return "\n".join(lines) + "\n"


def base_model(config: Mapping[str, Any]) -> str | None:
    """The Hub id the weights start from: ``init_weights`` when it is a Hub id (the released checkpoint when it
    names it, or the model uses its token layout), else None."""
    from facexformer.io.hub import looks_like_hub_id

    source = config.get("init_weights")
    if not source:
        return None
    if RELEASED_MODEL in str(source) or config.get("released_tokens"):
        return RELEASED_MODEL
    return str(source) if looks_like_hub_id(str(source)) else None


def released_training_data(tasks: Sequence[str]) -> list[str]:
    """The paper's training sets of ``tasks``, each once, in task order."""
    names = [name for task in tasks for name in RELEASED_TRAINING_DATA.get(task, ())]
    return list(dict.fromkeys(names))


def evaluation_results(metrics: Mapping[str, float], datasets: Sequence[str] | None) -> list[Any] | None:
    """``metrics`` (``stage/[dataset/]task/metric`` -> value) as the Hub's ``EvalResult`` entries (None when
    there are none)."""
    from huggingface_hub import EvalResult

    results = []
    for name, value in sorted(metrics.items()):
        parts = name.split("/")
        task = parts[-2] if len(parts) >= 2 else "face"
        dataset = parts[1] if len(parts) >= 4 else (datasets[0] if datasets else "held-out test set")
        results.append(
            EvalResult(
                task_type=task,
                dataset_type=dataset,
                dataset_name=dataset,
                metric_type=parts[-1],
                metric_name=name,
                metric_value=float(value),
            )
        )
    return results or None


def task_name(spec: Any) -> str:
    """The registered name of a task entry (a name or a ``{"class_path", "init_args"}`` dict)."""
    from facexformer.tasks import TASKS

    path = str(spec.get("class_path", "?")) if isinstance(spec, Mapping) else str(spec)
    by_path = {f"{c.__module__}.{c.__qualname__}": name for name, c in TASKS.items()}
    return by_path.get(path, path.rpartition(".")[2])
