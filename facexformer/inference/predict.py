"""``predict``: photos in, per-face predictions in the photo's own pixels out.

Each face is cropped as the released ``inference.py`` does (box grown by ``margin`` of its width/height per
side, clipped, PIL bicubic resize to the model's input size, see ``facexformer.data.crop``), the crops run in
batches on the model's device, and every output is mapped back to the original image:

- landmarks: (N, 2) pixels of the original image (``uncrop_points``);
- parsing: (H, W) class ids of the whole image: the crop's logits are resized bilinearly to the crop's size in
  original pixels, arg-maxed and pasted into a map filled with 0 (background);
- head pose: degrees ``{"pitch", "yaw", "roll"}`` (300W-LP convention, ``facexformer.geometry``);
- attributes: ``{name: probability}``; visibility: (N,) probability that each point is occluded;
- age, gender, race, expression: a :class:`ClassPrediction` (label name, index, probabilities by name);
  age also gets the expected age in years (``facexformer.losses.age.AGE_BIN_CENTRES``);
- any other task: its ``decode`` output, as lists, under ``extra``.

JSON form (``FacePrediction.to_dict``): fields of tasks that did not run are left out; the parsing map is a
row-major run-length code ``{"encoding": "rle", "size": [H, W], "values": [...], "counts": [...]}``
(``rle_encode`` / ``rle_decode``), so one JSON file holds everything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from facexformer.data.crop import crop_box, uncrop_points
from facexformer.inference.detect import find_faces, resolve_detector
from facexformer.io.image import decode_image, float_to_uint8, image_to_rgb
from facexformer.losses.age import AGE_BIN_CENTRES
from facexformer.tasks.attributes import ATTRIBUTE_NAMES
from facexformer.tasks.classification import ClassificationTask

ImageInput = str | Path | Image.Image | np.ndarray | torch.Tensor
CLASS_FIELDS = ("age", "gender", "race", "expression")
_IMAGE_TYPES = (str, Path, Image.Image, np.ndarray, torch.Tensor)


@dataclass
class ClassPrediction:
    """A single-label prediction: ``label`` (class name), ``index``, ``probs`` ``{name: probability}``."""

    label: str
    index: int
    probs: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "index": self.index, "probs": dict(self.probs)}


@dataclass
class FacePrediction:
    """Everything predicted for one face, in the original image's pixels (pixel centres at integers).

    ``box``: (x0, y0, x1, y1) face box used; ``crop``: (left, top, width, height) region the model saw;
    ``image_index``: position of the image in the ``predict`` input; ``source``: its file name or
    ``<input i>``. Task fields are None when the task did not run.
    """

    box: tuple[float, float, float, float]
    crop: tuple[int, int, int, int]
    image_index: int = 0
    source: str | None = None
    landmarks: np.ndarray | None = None
    headpose: dict[str, float] | None = None
    parsing: np.ndarray | None = None
    attributes: dict[str, float] | None = None
    visibility: np.ndarray | None = None
    age: ClassPrediction | None = None
    age_years: float | None = None
    gender: ClassPrediction | None = None
    race: ClassPrediction | None = None
    expression: ClassPrediction | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; parsing as a run-length code (see the module docstring), None fields left out."""
        out: dict[str, Any] = {
            "box": [float(v) for v in self.box],
            "crop": [int(v) for v in self.crop],
            "image_index": self.image_index,
            "source": self.source,
        }
        if self.landmarks is not None:
            out["landmarks"] = self.landmarks.astype(float).tolist()
        if self.headpose is not None:
            out["headpose"] = dict(self.headpose)
        if self.parsing is not None:
            out["parsing"] = rle_encode(self.parsing)
        if self.attributes is not None:
            out["attributes"] = dict(self.attributes)
        if self.visibility is not None:
            out["visibility"] = self.visibility.astype(float).tolist()
        for name in CLASS_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value.to_dict()
        if self.age_years is not None:
            out["age_years"] = self.age_years
        if self.extra:
            out["extra"] = dict(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FacePrediction:
        """Inverse of ``to_dict``."""
        kwargs = dict(data)
        kwargs["box"] = tuple(float(v) for v in data["box"])
        kwargs["crop"] = tuple(int(v) for v in data["crop"])
        if "landmarks" in data:
            kwargs["landmarks"] = np.asarray(data["landmarks"], dtype=np.float32).reshape(-1, 2)
        if "parsing" in data:
            kwargs["parsing"] = rle_decode(data["parsing"])
        if "visibility" in data:
            kwargs["visibility"] = np.asarray(data["visibility"], dtype=np.float32)
        for name in CLASS_FIELDS:
            if name in data:
                kwargs[name] = ClassPrediction(**data[name])
        return cls(**kwargs)


def rle_encode(labels: np.ndarray) -> dict[str, Any]:
    """(H, W) integer map -> ``{"encoding": "rle", "size": [H, W], "values", "counts"}`` (row-major runs)."""
    flat = np.asarray(labels).reshape(-1)
    starts = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate([[0], starts]) if flat.size else starts
    counts = np.diff(np.concatenate([starts, [flat.size]]))
    return {
        "encoding": "rle",
        "size": [int(s) for s in labels.shape],
        "values": flat[starts].astype(int).tolist(),
        "counts": counts.astype(int).tolist(),
    }


def rle_decode(code: dict[str, Any]) -> np.ndarray:
    """Inverse of ``rle_encode`` -> (H, W) uint8 (int32 when a value exceeds 255)."""
    if code.get("encoding") != "rle" or len(code.get("size", ())) != 2:
        raise ValueError(f"not a parsing run-length code (need encoding 'rle' and size [H, W]): {list(code)}")
    height, width = code["size"]
    values, counts = np.asarray(code["values"]), np.asarray(code["counts"])
    if values.shape != counts.shape or int(counts.sum()) != height * width:
        total = int(counts.sum())
        raise ValueError(f"parsing run-length code: counts sum to {total}, size is {height}x{width}")
    dtype = np.uint8 if values.size == 0 or values.max() < 256 else np.int32
    return np.repeat(values, counts).astype(dtype).reshape(height, width)


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
    image_index: int
    box: tuple[float, float, float, float]
    crop: tuple[int, int, int, int]
    image_hw: tuple[int, int]
    pixels: np.ndarray


def predict(
    model: Any,
    inputs: ImageInput | Sequence[ImageInput],
    tasks: Sequence[str] | None = None,
    boxes: Any = None,
    batch_size: int = 16,
    margin: float = 0.25,
    detector: str | Callable[[np.ndarray], np.ndarray] | None = "mtcnn",
    square: bool = False,
    names: Sequence[str] | None = None,
) -> list[FacePrediction]:
    """Predict ``tasks`` (default all of ``model``'s) for every face in ``inputs``.

    ``inputs``: one image or a list (paths, PIL images, (H, W, 3) uint8 arrays, (3, H, W) uint8 or [0, 1]
    float tensors; a (B, 3, H, W) tensor counts as a list). ``boxes``: None (find faces with ``detector``:
    "mtcnn", "haar", "none" or a callable, see ``facexformer.inference.detect``), or per image a (4,) or (K, 4) array of
    (x0, y0, x1, y1) pixels (for a single image, that array itself). Returns one ``FacePrediction`` per
    face, images in input order, faces largest first within an image (``image_index`` tells them apart).
    ``names``: one label per image for ``source`` and warnings (default: the path, or ``<input i>``).
    Usable as a method: ``FaceXFormer.predict = predict``.
    """
    single = isinstance(inputs, _IMAGE_TYPES) and not (isinstance(inputs, torch.Tensor) and inputs.ndim == 4)
    images = [inputs] if single else list(inputs)
    per_image_boxes = _split_boxes(boxes, len(images), single)
    if names is not None and len(names) != len(images):
        raise ValueError(f"names: got {len(names)} names for {len(images)} images")
    tasks = [tasks] if isinstance(tasks, str) else tasks
    task_objects = [model.task(n) for n in (tasks if tasks is not None else model.task_names)]
    size = int(model.hparams.image_size)
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
            faces += crop_faces(rgb, found, index, size, margin, square)
        except ValueError as err:  # a box outside the image
            raise ValueError(f"{source}: {err}") from None

    results = []
    for start in range(0, len(faces), batch_size):
        chunk = faces[start : start + batch_size]
        results += run_faces(model, chunk, task_objects, size, sources)
    return results


def crop_faces(
    rgb: np.ndarray, boxes: np.ndarray, index: int, size: int, margin: float = 0.25, square: bool = False
) -> list[_Face]:
    """The model's ``size``×``size`` input crop of each (x0, y0, x1, y1) box of the (H, W, 3) image ``index``."""
    height, width = rgb.shape[:2]
    pil = Image.fromarray(rgb)
    faces = []
    for box in boxes:
        left, top, crop_w, crop_h = crop_box(box, (width, height), margin, square)
        region = pil.crop((left, top, left + crop_w, top + crop_h))
        pixels = np.asarray(region.resize((size, size), Image.Resampling.BICUBIC))
        crop = (left, top, crop_w, crop_h)
        faces.append(_Face(index, tuple(float(v) for v in box), crop, (height, width), pixels))
    return faces


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
def run_faces(model: Any, chunk: list[_Face], tasks: list[Any], size: int, sources: list[str]) -> list[FacePrediction]:
    """One forward pass over the crops of ``chunk`` -> their predictions in original-image pixels.

    ``sources``: the label of each image, indexed by ``_Face.image_index``. Pixels are normalised in float32
    and cast to the model's dtype by the network (a bf16 model gets the same input rounding as autocast).
    """
    param = next(model.parameters())
    batch = torch.from_numpy(np.stack([f.pixels for f in chunk])).permute(0, 3, 1, 2)
    batch = batch.to(device=param.device, dtype=torch.promote_types(param.dtype, torch.float32)) / 255
    was_training = model.training
    model.eval()
    try:
        outputs = model(model.normalize(batch), [t.name for t in tasks])
    finally:
        model.train(was_training)
    return faces_from_outputs(
        tasks,
        outputs,
        size,
        crops=[f.crop for f in chunk],
        image_sizes=[(f.image_hw[1], f.image_hw[0]) for f in chunk],
        boxes=[f.box for f in chunk],
        sources=[sources[f.image_index] for f in chunk],
        image_indices=[f.image_index for f in chunk],
    )


def faces_from_outputs(
    tasks: Sequence[Any],
    outputs: dict[str, torch.Tensor],
    size: int,
    crops: Sequence[Sequence[float]],
    image_sizes: Sequence[Sequence[int]],
    boxes: Sequence[Sequence[float]] | None = None,
    sources: Sequence[str | None] | None = None,
    image_indices: Sequence[int] | None = None,
) -> list[FacePrediction]:
    """Raw head outputs of B face crops -> one ``FacePrediction`` per crop, in original-image pixels.

    ``outputs``: ``{task name: (B, ...)}`` as the model returns them for its ``size`` x ``size`` input; ``crops``: per
    face (left, top, width, height) of the region the model saw, original pixels; ``image_sizes``: per face the
    original image's (width, height); ``boxes``: the face boxes (default: the crops as x0, y0, x1, y1).
    """
    count = len(crops)
    boxes = boxes if boxes is not None else [(c[0], c[1], c[0] + c[2], c[1] + c[3]) for c in crops]
    indices = image_indices if image_indices is not None else range(count)
    names = sources if sources is not None else [None] * count
    preds = [
        FacePrediction(
            box=tuple(float(v) for v in box), crop=tuple(int(v) for v in crop), image_index=int(i), source=source
        )
        for box, crop, i, source in zip(boxes, crops, indices, names, strict=True)
    ]
    crop_tensor = torch.tensor([[float(v) for v in c] for c in crops], dtype=torch.float32)
    sizes_hw = [(int(h), int(w)) for w, h in image_sizes]
    for task in tasks:
        _fill(task, outputs[task.name], preds, sizes_hw, crop_tensor, size)
    return preds


def _fill(
    task: Any,
    output: torch.Tensor,
    preds: list[FacePrediction],
    image_hw: list[tuple[int, int]],
    crops: torch.Tensor,
    size: int,
) -> None:
    name = task.name
    if name == "landmarks":
        points = uncrop_points(task.decode(output, size).float().cpu(), crops, size).numpy()
        for pred, p in zip(preds, points, strict=True):
            pred.landmarks = p
    elif name == "parsing":
        for pred, logits, hw in zip(preds, output, image_hw, strict=True):
            pred.parsing = _paste_parsing(logits, pred.crop, hw)
    elif name == "headpose":
        for pred, angles in zip(preds, task.decode(output).cpu().tolist(), strict=True):
            pred.headpose = dict(zip(("pitch", "yaw", "roll"), angles, strict=True))
    elif name == "attributes":
        probs = task.decode(output).cpu()
        labels = ATTRIBUTE_NAMES if probs.shape[-1] == len(ATTRIBUTE_NAMES) else None
        for pred, row in zip(preds, probs.tolist(), strict=True):
            pred.attributes = {(labels[i] if labels else f"attribute_{i}"): p for i, p in enumerate(row)}
    elif name == "visibility":
        for pred, row in zip(preds, task.decode(output).cpu().numpy(), strict=True):
            pred.visibility = row
    elif isinstance(task, ClassificationTask):
        _fill_classes(task, output, preds)
    else:
        decoded = task.decode(output)
        for i, pred in enumerate(preds):
            pred.extra[name] = _plain(decoded, i)


def _fill_classes(task: ClassificationTask, output: torch.Tensor, preds: list[FacePrediction]) -> None:
    probs = task.decode(output)["probs"].cpu()
    known = task.class_names
    names = [known[i] if i < len(known) else f"class_{i}" for i in range(probs.shape[-1])]
    years = None
    if task.name == "age" and probs.shape[-1] == len(AGE_BIN_CENTRES):
        years = (probs.double() @ torch.tensor(AGE_BIN_CENTRES, dtype=torch.float64)).tolist()
    for i, (pred, row) in enumerate(zip(preds, probs.tolist(), strict=True)):
        index = int(np.argmax(row))
        value = ClassPrediction(names[index], index, dict(zip(names, row, strict=True)))
        if task.name in CLASS_FIELDS:
            setattr(pred, task.name, value)
        else:
            pred.extra[task.name] = value.to_dict()
        if years is not None:
            pred.age_years = years[i]


def _paste_parsing(logits: torch.Tensor, crop: tuple[int, int, int, int], image_hw: tuple[int, int]) -> np.ndarray:
    """(K, S, S) crop logits -> (H, W) class ids of the whole image (0 outside the crop; a crop reaching past
    the image border, e.g. ``CropFace(clip=False)``, is cut at the border)."""
    left, top, crop_w, crop_h = crop
    height, width = image_hw
    resized = F.interpolate(logits[None].float(), size=(crop_h, crop_w), mode="bilinear", align_corners=False)
    labels = resized[0].argmax(0).cpu().numpy()
    full = np.zeros((height, width), dtype=np.uint8 if logits.shape[0] <= 256 else np.int32)
    rows = slice(max(top, 0), min(top + crop_h, height))
    cols = slice(max(left, 0), min(left + crop_w, width))
    if rows.start < rows.stop and cols.start < cols.stop:
        full[rows, cols] = labels[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left]
    return full


def _plain(decoded: Any, row: int) -> Any:
    """Row ``row`` of a decoded output (tensor or dict of tensors) as JSON-able lists/numbers."""
    if isinstance(decoded, dict):
        return {k: _plain(v, row) for k, v in decoded.items()}
    if isinstance(decoded, torch.Tensor):
        return decoded[row].detach().cpu().tolist()
    return decoded
