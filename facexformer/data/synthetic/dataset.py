"""``SyntheticFaces``: procedurally rendered faces carrying every task's label, for offline runs and tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from facexformer.data.synthetic.labels import attributes, visibility
from facexformer.data.synthetic.render import Rendered, render
from facexformer.data.synthetic.traits import Traits, sample_traits
from facexformer.tasks import TASKS, Task

#: the labels this generator renders, by sample key: (rendered face, its traits) -> the label tensor (labels a
#: task derives from others, like ``age_group``, come from the task's declaration)
RENDERERS: dict[str, Callable[[Rendered, Traits], torch.Tensor]] = {
    "landmarks": lambda out, traits: torch.from_numpy(out.landmarks.astype(np.float32)),
    "headpose": lambda out, traits: torch.tensor(traits.pose, dtype=torch.float32),
    "visibility": lambda out, traits: torch.from_numpy(visibility(out, traits)),
    "parsing": lambda out, traits: torch.from_numpy(out.parsing.astype(np.int64)),
    "attributes": lambda out, traits: torch.from_numpy(attributes(traits, out)),
    "age": lambda out, traits: torch.tensor(traits.age, dtype=torch.float32),
    "gender": lambda out, traits: torch.tensor(traits.gender, dtype=torch.int64),
    "race": lambda out, traits: torch.tensor(traits.race, dtype=torch.int64),
    "expression": lambda out, traits: torch.tensor(traits.expression, dtype=torch.int64),
}


def unrendered_labels(task: type[Task]) -> list[str]:
    """The label keys of ``task`` that ``RENDERERS`` does not render and the task cannot derive from the others
    (``Label.derive``); a task without labels has nothing to render and gets ``["(none)"]``."""
    derivable = {label.key for label in task.labels if label.derive is not None}
    return [key for key in task.label_keys if key not in RENDERERS and key not in derivable] or (
        [] if task.label_keys else ["(none)"]
    )


def renderable_tasks() -> tuple[str, ...]:
    """The registered tasks (``facexformer.tasks.TASKS``: built in, declared by installed plugins, defined in
    this process) all of whose labels are rendered or derived, in the order of their first rendered label in
    ``RENDERERS``, then by name. Asked when a dataset is built, so a task registered later is included: a task
    supplies how to paint its label by deriving it from the rendered ones (``Label.derive``); a task with a
    label that is neither (e.g. identities) has none here and is left out."""
    order = list(RENDERERS)
    names = [name for name, task in TASKS.items() if not unrendered_labels(task)]
    first = {name: min(order.index(k) for k in TASKS[name].label_keys if k in order) for name in names}
    return tuple(sorted(names, key=lambda name: (first[name], name)))


def __getattr__(name: str) -> tuple[str, ...]:
    """``ALL_TASKS``: ``renderable_tasks()`` at the time of asking (kept for older imports)."""
    if name == "ALL_TASKS":
        return renderable_tasks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class SyntheticFaces(Dataset):
    """Map-style dataset of rendered faces; item ``i`` depends only on (seed, i).

    Each item follows the sample contract: ``image`` uint8 (3, S, S); ``box`` float32 (4,) = tight box of
    the 68 landmarks; ``landmarks`` float32 (68, 2) pixels, iBUG-68 order (occluded points keep their true
    position); ``headpose`` float32 (3,) degrees (pitch, yaw, roll), 300W-LP convention (see ``face_model``);
    ``visibility`` float32 (29,) COFW order, 1 = occluded (see ``labels``); ``parsing`` int64 (S, S) LaPa
    classes (see ``render``); ``attributes`` float32 (40,) CelebA order; ``age`` float32 years and
    ``age_group`` int64 decade bin; ``gender`` int64 (0 male, 1 female); ``race`` int64 (the Race task's order:
    0 White, 1 Black, 2 Asian, 3 Indian, 4 Others; cue: skin tone, plus narrower eyes for Asian, fuller lips
    and wider nose for Black and Indian); ``expression`` int64 (0 Neutral, 1 Happiness, 2 Sadness, 3 Surprise, 4 Fear,
    5 Disgust, 6 Anger). Item ``i`` is drawn from ``numpy.random.default_rng([seed, i])``.
    Only the labels of ``tasks`` (default: all) are included.

    Args:
        num_samples: dataset length.
        size: image side in pixels.
        seed: base seed; different seeds give different faces.
        tasks: the tasks to label (default: ``renderable_tasks()`` when the dataset is built, every registered
            task whose labels it renders: rendered by ``RENDERERS`` or derived by the task, e.g. the age bin from
            the age; a task with another label is refused, naming it).
        transform: optional callable applied to each item dict.
        cache: keep every rendered item in memory (in each DataLoader worker, which persists across
            epochs), so a training run renders each face once per worker instead of once per visit. Costs
            about 45 KB per item at 64 px (the int64 parsing map dominates), 0.5 MB at 224 px.
    """

    def __init__(
        self,
        num_samples: int = 1000,
        size: int = 224,
        seed: int = 0,
        tasks: Sequence[str] | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        cache: bool = False,
    ) -> None:
        if num_samples < 0:
            raise ValueError(f"SyntheticFaces: num_samples must be >= 0, got {num_samples}")
        if size < 16:
            raise ValueError(f"SyntheticFaces: size must be >= 16 pixels, got {size}")
        self.tasks = tuple(renderable_tasks() if tasks is None else tasks)
        unknown = sorted(set(self.tasks) - set(TASKS))
        if unknown:
            raise ValueError(f"SyntheticFaces: unknown task(s) {unknown}; registered: {sorted(TASKS)}")
        missing = {name: unrendered_labels(TASKS[name]) for name in self.tasks}
        missing = {name: keys for name, keys in missing.items() if keys}
        if missing:
            raise ValueError(
                f"SyntheticFaces cannot render task(s) {sorted(missing)}: no renderer for label(s) {missing}; "
                f"it renders {list(RENDERERS)}, i.e. the tasks {list(renderable_tasks())}"
            )
        self.num_samples, self.size, self.seed, self.transform = num_samples, size, seed, transform
        self._cache: dict[int, dict[str, Any]] | None = {} if cache else None

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"SyntheticFaces: index {index} out of range for {self.num_samples} samples")
        index %= self.num_samples
        if self._cache is None:
            sample = self._make(index)
        else:
            if index not in self._cache:
                self._cache[index] = self._make(index)
            sample = dict(self._cache[index])  # a transform may replace entries, never the cached ones
        return self.transform(sample) if self.transform is not None else sample

    def _make(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, index])
        traits = sample_traits(rng)
        out = render(traits, self.size, rng)
        landmarks = RENDERERS["landmarks"](out, traits)
        sample: dict[str, Any] = {
            "image": torch.from_numpy(out.image.copy()).permute(2, 0, 1).contiguous(),
            "box": torch.cat([landmarks.min(dim=0).values, landmarks.max(dim=0).values]),
            "tasks": self.tasks,
            "source": f"SyntheticFaces(seed={self.seed})[{index}]",
        }
        for task in self.tasks:
            derived = {label.key: label for label in TASKS[task].labels if label.derive is not None}
            for key in TASKS[task].label_keys:
                if key in RENDERERS:
                    sample[key] = RENDERERS[key](out, traits)
                else:  # declared before it, the labels it follows from are in the sample already
                    sample[key] = derived[key].convert(derived[key].derive(sample))
        return sample
