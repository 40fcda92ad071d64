"""Tasks: each owns its tokens, head, declared labels, loss, metrics, flip rule and prediction edges (mapping back
to the photo, JSON, drawing). ``TASKS`` maps names to classes: the tasks declared under the entry-point group
``facexformer_tasks`` (the built-in ones in this package's ``pyproject.toml``, plugins in theirs) and every task
class defined in the process. The imports below are the public namespace only; they register nothing."""

from facexformer.tasks.age_gender_race import Age, AgePrediction, Gender, Race
from facexformer.tasks.attributes import Attributes
from facexformer.tasks.base import TASKS, Task, TaskRegistry, task_from_config
from facexformer.tasks.classification import ClassificationTask, ClassPrediction
from facexformer.tasks.drawing import Overlay
from facexformer.tasks.expression import Expression
from facexformer.tasks.headpose import HeadPose
from facexformer.tasks.label import Label
from facexformer.tasks.label_check import LabelValueError
from facexformer.tasks.landmarks import Landmarks
from facexformer.tasks.parsing import Parsing
from facexformer.tasks.recognition import Recognition
from facexformer.tasks.visibility import Visibility

#: the eight tasks of the released checkpoint, in its token order
RELEASED_TASKS = ("landmarks", "headpose", "attributes", "visibility", "age", "gender", "race", "parsing")

__all__ = [
    "RELEASED_TASKS",
    "TASKS",
    "Age",
    "AgePrediction",
    "Attributes",
    "ClassPrediction",
    "ClassificationTask",
    "Expression",
    "Gender",
    "HeadPose",
    "Label",
    "LabelValueError",
    "Landmarks",
    "Overlay",
    "Parsing",
    "Race",
    "Recognition",
    "Task",
    "TaskRegistry",
    "Visibility",
    "task_from_config",
]
