"""``PretrainedMixin``: the loaders build the class they are called on; a checkpoint of other tasks is refused."""

import pytest

from facexformer import FaceXFormer
from facexformer.io.errors import CheckpointError
from facexformer.io.pretrained import check_saved_tasks


class Tuned(FaceXFormer):
    """A user's subclass."""


def test_the_loaders_build_the_class_they_are_called_on(tmp_path, tiny_kwargs):
    FaceXFormer(tasks=["gender"], **tiny_kwargs).save_pretrained(tmp_path / "m")
    loaded = Tuned.from_pretrained(tmp_path / "m")
    assert type(loaded) is Tuned and loaded.task_names == ["gender"] and not loaded.training


def test_a_checkpoint_of_other_tasks_is_refused_unless_the_check_is_off(tiny_kwargs):
    model = FaceXFormer(tasks=["gender"], **tiny_kwargs)
    check_saved_tasks(None, model.hparams.tasks, model.task_names)  # saved without a task list
    check_saved_tasks(["gender"], model.hparams.tasks, model.task_names)  # a short name spelt out as saved
    other = {"hyper_parameters": {"tasks": ["age"]}}
    with pytest.raises(CheckpointError, match=r"checkpoint \['age'\], model \['gender'\]\..*init_weights"):
        model.on_load_checkpoint(other)
    model.check_checkpoint_tasks = False
    model.on_load_checkpoint(other)
