import pytest

from facexformer.tasks import TASKS, Age, Landmarks, Parsing, Task
from facexformer.tasks.base import declared_labels
from facexformer.tasks.label import Label


def test_released_tasks_derive_their_keys_from_their_labels():
    assert Landmarks.label_keys == Landmarks.keypoint_keys == ("landmarks",) and Landmarks.mask_keys == ()
    assert Parsing.label_keys == Parsing.mask_keys == ("parsing",) and Parsing.keypoint_keys == ()
    assert Age.label_keys == ("age", "age_group") and not Age.keypoint_keys + Age.mask_keys
    released = [task for task in TASKS.values() if task.__module__.startswith("facexformer.tasks.")]
    built_in = {"landmarks", "headpose", "attributes", "visibility", "age", "gender", "race", "parsing"}
    assert built_in | {"expression", "recognition"} <= {task.name for task in released}  # plugins may add more
    for task in released:
        assert task.labels and task.label_keys == tuple(label.key for label in task.labels), task.name


def test_a_new_task_declares_labels_once(task_registry):
    class Gaze(Task):
        name = "test_gaze"
        labels = (Label("test_pupils", "keypoints", (2, 2)), Label("test_iris", "mask"), Label("test_yaw", "scalar"))

    assert task_registry["test_gaze"] is Gaze
    assert Gaze.label_keys == ("test_pupils", "test_iris", "test_yaw")
    assert Gaze.keypoint_keys == ("test_pupils",) and Gaze.mask_keys == ("test_iris",)
    assert declared_labels()["test_pupils"] is Gaze.labels[0]


def test_keys_written_by_hand_next_to_labels_are_refused(task_registry):
    with pytest.raises(TypeError, match=r"\['label_keys'\] derive from `labels`"):

        class Both(Task):
            name = "test_both"
            labels = (Label("test_a", "class"),)
            label_keys = ("test_a",)

    with pytest.raises(TypeError, match="inherits `labels`"):

        class Sub(Landmarks):
            name = "test_sub"
            keypoint_keys = ("other",)

    with pytest.raises(TypeError, match="declared twice"):

        class Twice(Task):
            name = "test_twice"
            labels = (Label("test_a", "class"), Label("test_a", "scalar"))

    assert not {"test_both", "test_sub", "test_twice"} & set(task_registry)


def test_one_key_declared_differently_by_two_tasks_is_refused(task_registry):
    with pytest.raises(TypeError, match=r"declares label 'landmarks' as \(D, 2\) float32 vector.*'landmarks'"):

        class Clash(Task):
            name = "test_clash"
            labels = (Label("landmarks", "vector", (None, 2)),)

    class Same(Task):  # the same declaration under another name is fine (a landmark variant task)
        name = "test_same"
        labels = (Label("landmarks", "keypoints"),)

    assert "test_clash" not in task_registry and task_registry["test_same"] is Same


def test_tasks_listing_keys_without_labels_still_work(task_registry):
    class Legacy(Task):
        name = "test_legacy"
        label_keys = ("test_legacy",)
        keypoint_keys = ("test_legacy_points",)

    assert Legacy.labels == () and Legacy.keypoint_keys == ("test_legacy_points",)
    assert "test_legacy" not in declared_labels()


def test_the_built_in_tasks_are_declared_by_entry_point_like_a_plugin():
    from facexformer.plugins import declared, entry_class_path

    declared_tasks = {ep.name: entry_class_path(ep) for ep in declared("tasks")}
    for name in ("landmarks", "headpose", "attributes", "visibility", "age", "gender", "race", "parsing"):
        cls = TASKS[name]
        assert declared_tasks[name] == f"{cls.__module__}.{cls.__qualname__}", name
