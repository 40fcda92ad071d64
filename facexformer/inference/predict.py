"""``predict``: photos in, per-face predictions in the photo's own pixels out.

Each face is cropped with the model's crop (``FaceXFormer.crop_settings``: the ``facexformer.geometry.crop``
settings it was trained with, saved with it; the released model's is the released ``inference.py`` crop: box
grown by 25% of its width/height per side, clipped, PIL bicubic resize to the input size), the same
``CropWindow`` training's ``CropFace`` applies. The crops run in batches on the model's device, and each task
maps its output back to the photo through the face's ``CropWindow`` (``Task.to_photo``):

- landmarks: (N, 2) pixels of the photo; parsing: (H, W) class ids of the whole photo (the crop's logits
  resized bilinearly to the crop's size in photo pixels, arg-maxed, pasted into a map of 0 = background);
- head pose: degrees ``{"pitch", "yaw", "roll"}`` (300W-LP convention, ``facexformer.geometry``);
- attributes: ``{name: probability}``; visibility: (N,) probability that each point is occluded;
- age, gender, race, expression: a :class:`ClassPrediction` (label name, index, probabilities by name);
  age's also holds ``years``, the expected age (``facexformer.losses.age.AGE_BIN_CENTRES``);
- any other task: what its ``to_photo`` returns (by default its ``decode`` output as lists).

JSON form (``FacePrediction.to_dict``): ``box``, ``crop``, ``image_index``, ``source`` and each task's fields
(``Task.to_json``; a task that did not run is left out): the parsing map as a row-major run-length code
``{"encoding": "rle", "size": [H, W], "values": [...], "counts": [...]}`` (``rle_encode`` / ``rle_decode``),
age as ``age`` plus ``age_years``, a task of your own under its name, so one JSON file holds everything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from facexformer.geometry.crop import CropSettings, CropWindow, Margin, crop_faces
from facexformer.inference.detect import find_faces, resolve_detector
from facexformer.inference.optimize import optimize_for_inference
from facexformer.io.image import decode_image, float_to_uint8, image_to_rgb
from facexformer.tasks import TASKS, Task
from facexformer.tasks.classification import ClassPrediction
from facexformer.tasks.parsing import rle_decode, rle_encode

__all__ = [
    "ClassPrediction",
    "FacePrediction",
    "crop_settings",
    "faces_from_outputs",
    "predict",
    "rle_decode",
    "rle_encode",
    "to_rgb_array",
]

ImageInput = str | Path | Image.Image | np.ndarray | torch.Tensor
_IMAGE_TYPES = (str, Path, Image.Image, np.ndarray, torch.Tensor)
#: the fields of a face's JSON record that are not task outputs
RECORD_FIELDS = ("box", "crop", "image_index", "source")


def _task_output(name: str, doc: str) -> property:
    def get(self: FacePrediction) -> Any:
        return self.outputs.get(name)

    def put(self: FacePrediction, value: Any) -> None:
        if value is None:
            self.outputs.pop(name, None)
        else:
            self.outputs[name] = value

    return property(get, put, doc=doc)


class FacePrediction:
    """Everything predicted for one face, in the original image's pixels (pixel centres at integers).

    ``box``: (x0, y0, x1, y1) face box used; ``crop``: (left, top, width, height) region the model saw;
    ``image_index``: position of the image in the ``predict`` input; ``source``: its file name or
    ``<input i>``; ``outputs``: ``{task name: value}`` of the tasks that ran, each value what the task's
    ``to_photo`` returns. Any task's value by name: ``prediction["eye_colour"]``, ``prediction.get(name)`` or,
    for a registered task (built in or a plugin), the attribute ``prediction.eye_colour`` (None when the task did
    not run); the released tasks' values are also documented properties and keyword arguments of the constructor.
    """

    def __init__(
        self,
        box: Sequence[float],
        crop: Sequence[int],
        image_index: int = 0,
        source: str | None = None,
        outputs: Mapping[str, Any] | None = None,
        **task_outputs: Any,
    ):
        self.box: tuple[float, float, float, float] = tuple(float(v) for v in box)  # type: ignore[assignment]
        self.crop: tuple[int, int, int, int] = tuple(int(v) for v in crop)  # type: ignore[assignment]
        self.image_index, self.source = int(image_index), source
        self.outputs: dict[str, Any] = dict(outputs or {})
        self.outputs.update(task_outputs.pop("extra", None) or {})  # the field of the same name before ``outputs``
        self.outputs.update({name: value for name, value in task_outputs.items() if value is not None})

    landmarks = _task_output("landmarks", "(N, 2) float32 pixels (x, y), or None")
    headpose = _task_output("headpose", '``{"pitch", "yaw", "roll"}`` degrees, or None')
    parsing = _task_output("parsing", "(H, W) class ids of the whole photo, or None")
    attributes = _task_output("attributes", "``{attribute: probability}``, or None")
    visibility = _task_output("visibility", "(N,) probability that each point is occluded, or None")
    age = _task_output("age", "``AgePrediction`` (a ``ClassPrediction`` with ``years``), or None")
    gender = _task_output("gender", "``ClassPrediction``, or None")
    race = _task_output("race", "``ClassPrediction``, or None")
    expression = _task_output("expression", "``ClassPrediction``, or None")

    def __getitem__(self, name: str) -> Any:
        """The value of task ``name``; ``KeyError`` naming the tasks that ran when it did not run."""
        if name not in self.outputs:
            raise KeyError(f"no output of task {name!r} for this face; tasks that ran: {list(self.outputs)}")
        return self.outputs[name]

    def __contains__(self, name: object) -> bool:
        return name in self.outputs

    def get(self, name: str, default: Any = None) -> Any:
        """The value of task ``name``, or ``default`` when it did not run."""
        return self.outputs.get(name, default)

    def __getattr__(self, name: str) -> Any:
        """A registered task's value by attribute (None when it did not run); other names are no attribute."""
        outputs = self.__dict__.get("outputs")
        if outputs is None or name.startswith("_"):
            raise AttributeError(name)
        if name in outputs:
            return outputs[name]
        if name in TASKS:
            return None
        raise AttributeError(f"FacePrediction has no attribute {name!r} (no registered task of that name)")

    @property
    def age_years(self) -> float | None:
        """The expected age in years, or None."""
        return getattr(self.age, "years", None)

    def __repr__(self) -> str:
        return f"FacePrediction(box={self.box}, crop={self.crop}, source={self.source!r}, tasks={list(self.outputs)})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict: the record fields, then each task's ``Task.to_json`` fields (a task this process
        has no class for: its value as it is)."""
        out: dict[str, Any] = {
            "box": [float(v) for v in self.box],
            "crop": [int(v) for v in self.crop],
            "image_index": self.image_index,
            "source": self.source,
        }
        for name, value in self.outputs.items():
            task = TASKS.get(name)
            fields = task.to_json(value) if task is not None else {name: value}
            clash = set(fields) & set(out)
            if clash:
                raise ValueError(f"FacePrediction.to_dict: task {name!r} writes {sorted(clash)}, already written")
            out.update(fields)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FacePrediction:
        """Inverse of ``to_dict``: each registered task reads its fields (``Task.from_json``); fields of a task
        whose class is not imported are kept as they are (``extra`` of older files is unpacked)."""
        missing = [key for key in ("box", "crop") if key not in data]
        if missing:
            raise ValueError(f"not a face record: no {missing} (keys: {sorted(data)})")
        outputs: dict[str, Any] = {}
        used = set(RECORD_FIELDS)
        for key in data:
            task = TASKS.get(key)
            if key in used or task is None or task.json_fields()[0] != key:
                continue
            try:
                outputs[key] = task.from_json(data)
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(f"face record: {key!r} is not a {task.__name__} prediction: {err}") from err
            used |= set(task.json_fields())
        for key, value in data.items():
            if key == "extra" and isinstance(value, Mapping):
                outputs.update(value)
            elif key not in used:
                outputs[key] = value
        return cls(data["box"], data["crop"], data.get("image_index", 0), data.get("source"), outputs)


def to_rgb_array(image: ImageInput) -> np.ndarray:
    """Any supported image -> (H, W, 3) uint8 RGB array.

    Paths and PIL images are decoded by ``facexformer.io.image`` (EXIF orientation applied to files, 16-bit
    scaled, any colour mode converted; a bad file raises ``ImageDecodeError`` naming it); arrays are (H, W),
    (H, W, 1|3|4) and tensors (H, W) or (1|3|4, H, W), either uint8 or float in [0, 1] (NaN/inf refused);
    grey is repeated and alpha dropped.
    """
    if isinstance(image, str | Path):
        return decode_image(image)
    if isinstance(image, Image.Image):
        return image_to_rgb(image)
    if isinstance(image, torch.Tensor):
        array = image.detach().cpu()
        if array.ndim == 3:
            array = array.permute(1, 2, 0)
        image = array.numpy()
    if not isinstance(image, np.ndarray):
        kind = type(image).__name__
        raise TypeError(f"unsupported image type {kind}; expected a path, PIL image, array or tensor")
    return _array_to_rgb(image)


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"image array must be (H, W), (H, W, 1|3|4) or a (1|3|4, H, W) tensor, got {array.shape}")
    if np.issubdtype(array.dtype, np.floating):
        array = float_to_uint8(array, "float image array")
    elif array.dtype != np.uint8:
        raise TypeError(f"image array must be uint8 or float in [0, 1], got {array.dtype}")
    array = array.astype(np.uint8)[..., :3]
    return np.ascontiguousarray(np.repeat(array, 3, axis=-1) if array.shape[-1] == 1 else array)


@dataclass
class _Face:
    """One face ready for the network: its photo's ``image_index``, its ``crop`` and the uint8 (3, S, S)
    ``pixels`` of the crop."""

    image_index: int
    crop: CropWindow
    pixels: torch.Tensor


def crop_settings(
    model: Any, margin: Margin | None = None, square: bool | str | None = None, crop: CropSettings | None = None
) -> CropSettings:
    """The crop ``predict`` uses: ``crop`` if given, else the model's (``FaceXFormer.crop_settings``; the
    released crop at the model's input size for a model without one), with ``margin`` / ``square`` replaced
    where given. Its size must be the model's input size."""
    size = int(model.hparams.image_size)
    settings = crop or getattr(model, "crop_settings", None) or CropSettings(size=size)
    changes = {k: v for k, v in (("margin", margin), ("square", square)) if v is not None}
    if isinstance(changes.get("margin"), list):
        changes["margin"] = tuple(changes["margin"])
    settings = dataclasses.replace(settings, **changes) if changes else settings
    if settings.size != size:
        raise ValueError(f"crop size {settings.size} differs from the model's input size {size}")
    return settings


def predict(
    model: Any,
    inputs: ImageInput | Sequence[ImageInput],
    tasks: Sequence[str] | None = None,
    boxes: Any = None,
    batch_size: int = 16,
    margin: Margin | None = None,
    detector: str | Callable[[np.ndarray], np.ndarray] | None = "mtcnn",
    square: bool | str | None = None,
    names: Sequence[str] | None = None,
    crop: CropSettings | None = None,
) -> list[FacePrediction]:
    """Predict ``tasks`` (default all of ``model``'s) for every face in ``inputs``.

    ``inputs``: one image or a list (paths, PIL images, (H, W, 3) uint8 arrays, (3, H, W) uint8 or [0, 1]
    float tensors; a (B, 3, H, W) tensor counts as a list). ``boxes``: None (find faces with ``detector``:
    "mtcnn", "haar", "none" or a callable, see ``facexformer.inference.detect``), or per image a (4,) or (K, 4)
    array of (x0, y0, x1, y1) pixels (for a single image, that array itself). ``crop``, ``margin``, ``square``:
    the face crop (``crop_settings``; default the model's own, the one it was trained with). Returns one
    ``FacePrediction`` per face, images in input order, faces largest first within an image (``image_index``
    tells them apart). ``names``: one label per image for ``source`` and warnings (default: the path, or
    ``<input i>``). Usable as a method: ``FaceXFormer.predict``. The network runs as
    ``optimize_for_inference(model.net)``, made once per call (its first batch packs the weights): pass many
    photos to one call rather than one photo to many calls.
    """
    single = isinstance(inputs, _IMAGE_TYPES) and not (isinstance(inputs, torch.Tensor) and inputs.ndim == 4)
    images = [inputs] if single else list(inputs)
    per_image_boxes = _split_boxes(boxes, len(images), single)
    if names is not None and len(names) != len(images):
        raise ValueError(f"names: got {len(names)} names for {len(images)} images")
    tasks = [tasks] if isinstance(tasks, str) else tasks
    task_objects = [model.task(n) for n in (tasks if tasks is not None else model.task_names)]
    settings = crop_settings(model, margin, square, crop)
    find = resolve_detector(detector) if boxes is None else None

    faces: list[_Face] = []
    sources: list[str] = []
    for index, image in enumerate(images):
        source = str(image) if isinstance(image, str | Path) else f"<input {index}>"
        source = names[index] if names is not None else source
        sources.append(source)
        rgb = to_rgb_array(image)
        found = per_image_boxes[index]
        if found is None:
            found = find_faces(rgb, find, source, detector_requested=detector not in (None, "none"))
        try:
            faces += crop_photo(rgb, found, index, settings)
        except ValueError as err:  # a box outside the image
            raise ValueError(f"{source}: {err}") from None

    network = optimize_for_inference(model.net)
    results = []
    for start in range(0, len(faces), batch_size):
        chunk = faces[start : start + batch_size]
        results += faces_in_photos(task_objects, forward_faces(model, chunk, task_objects, network), chunk, sources)
    return results


def crop_photo(rgb: np.ndarray, boxes: Iterable[Sequence[float]], index: int, settings: CropSettings) -> list[_Face]:
    """The network input of each (x0, y0, x1, y1) box of the (H, W, 3) uint8 photo number ``index``, cropped
    by ``facexformer.geometry.crop.crop_faces`` with ``settings``."""
    pixels, crops = crop_faces(Image.fromarray(rgb), [list(box) for box in boxes], settings)
    return [_Face(index, crop, face) for crop, face in zip(crops, pixels, strict=True)]


def _split_boxes(boxes: Any, count: int, single: bool) -> list[np.ndarray | None]:
    if boxes is None:
        return [None] * count
    groups = [boxes] if single else list(boxes)
    if len(groups) != count:
        raise ValueError(f"boxes: got boxes for {len(groups)} images, but {count} images were given")
    out: list[np.ndarray | None] = []
    for index, group in enumerate(groups):
        if group is None:
            out.append(None)
            continue
        array = np.asarray(group.cpu() if isinstance(group, torch.Tensor) else group, dtype=np.float64)
        array = array.reshape(1, -1) if array.ndim == 1 else array
        if array.ndim != 2 or array.shape[1] != 4:
            raise ValueError(f"boxes for image {index}: need (4,) or (K, 4) (x0, y0, x1, y1), got {array.shape}")
        out.append(array)
    return out


@torch.no_grad()
def forward_faces(
    model: Any, chunk: list[_Face], tasks: list[Task], network: nn.Module | None = None
) -> dict[str, torch.Tensor]:
    """The network's raw outputs ``{task: (B, ...)}`` for the crops of ``chunk`` (one forward pass, eval mode).

    ``network``: what runs, ``optimize_for_inference(model.net)`` made once per run (default: ``model.net``).
    Pixels are normalised in float32 and cast to the model's dtype by the network (a bf16 model gets the same
    input rounding as autocast).
    """
    network = model.net if network is None else network
    param = next(network.parameters())
    batch = torch.stack([f.pixels for f in chunk])
    batch = batch.to(device=param.device, dtype=torch.promote_types(param.dtype, torch.float32)) / 255
    was_training = network.training
    network.eval()
    try:
        return network(model.normalize(batch), [t.name for t in tasks])
    finally:
        network.train(was_training)


def faces_in_photos(
    tasks: list[Task], outputs: Mapping[str, torch.Tensor], chunk: list[_Face], sources: list[str]
) -> list[FacePrediction]:
    """``forward_faces``'s outputs for ``chunk`` -> its predictions in original-image pixels."""
    with torch.no_grad():
        return faces_from_outputs(
            tasks,
            outputs,
            [f.crop for f in chunk],
            sources=[sources[f.image_index] for f in chunk],
            image_indices=[f.image_index for f in chunk],
        )


def faces_from_outputs(
    tasks: Sequence[Task],
    outputs: Mapping[str, torch.Tensor],
    crops: Sequence[CropWindow],
    sources: Sequence[str | None] | None = None,
    image_indices: Sequence[int] | None = None,
) -> list[FacePrediction]:
    """Raw head outputs of B face crops -> one ``FacePrediction`` per crop, in original-image pixels.

    ``outputs``: ``{task name: (B, ...)}`` as the model returns them for the crops; ``crops``: each face's
    ``CropWindow`` (its box, photo size and the region the model saw); each task maps its output back
    (``Task.to_photo``).
    """
    count = len(crops)
    indices = image_indices if image_indices is not None else range(count)
    names = sources if sources is not None else [None] * count
    preds = [
        FacePrediction(crop.box, crop.region, int(i), source)
        for crop, i, source in zip(crops, indices, names, strict=True)
    ]
    for task in tasks:
        values = task.to_photo(outputs[task.name], crops)
        for pred, value in zip(preds, values, strict=True):
            pred.outputs[task.name] = value
    return preds
