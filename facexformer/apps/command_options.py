"""The options of ``facexformer infer`` and ``facexformer export``: the dataclasses their parsers, ``--help`` and
``--config`` files are built from. jsonargparse reads this module's annotations (and would run the imports of an
``if TYPE_CHECKING`` block), so it imports neither torch nor the model: ``--help`` stays quick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from jsonargparse.typing import NonNegativeFloat, NonNegativeInt, PositiveInt


@dataclass
class InferOptions:
    """Options of ``facexformer infer`` (also readable from ``--config file.yaml``).

    Args:
        inputs: image files and/or folders
        checkpoint: save_pretrained folder, .ckpt, released model.pt or Hub id
        out: output folder
        tasks: task names (default: all the model's)
        overwrite: redo images whose JSON already exists
        batch_size: faces per forward pass
        device: cpu, cuda, cuda:1, mps or auto
        overlay: write an overlay PNG next to each JSON
        detector: face finder: mtcnn (the released pipeline's), haar (OpenCV), 'none' = the whole image is the
            face, auto = mtcnn
        margin: box growth per side, as a fraction of the box (default: the model's own crop, the one it was
            trained with; 0.25 for the released model)
        recursive: also scan sub-folders
        workers: processes decoding, detecting and cropping photos while the network runs (0: in this process)
        trust_checkpoint: let the checkpoint run code: open a full pickle and import any class path it names
            (only for files you trust; see docs/plugins.md)
    """

    checkpoint: str
    out: Path
    inputs: list[str] = field(default_factory=list)
    tasks: list[str] | None = None
    overwrite: bool = False
    batch_size: PositiveInt = 16
    device: str = "auto"
    overlay: bool = True
    detector: Literal["mtcnn", "haar", "none", "auto"] = "mtcnn"
    margin: NonNegativeFloat | None = None
    recursive: bool = False
    workers: NonNegativeInt = 2
    trust_checkpoint: bool = False


@dataclass
class ExportOptions:
    """Options of ``facexformer export`` (also readable from ``--config file.yaml``).

    Args:
        checkpoint: save_pretrained folder, .ckpt, released model.pt or Hub id
        format: onnx or torchscript
        out: output file
        tasks: output tasks, in order (default all)
        image_size: input side in pixels (default: the model's)
        opset: ONNX opset version (default: torch's)
        overwrite: replace an existing output file
        trust_checkpoint: let the checkpoint run code: open a full pickle and import any class path it names
            (only for files you trust; see docs/plugins.md)
    """

    checkpoint: str
    format: Literal["onnx", "torchscript"]
    out: Path
    tasks: list[str] | None = None
    image_size: PositiveInt | None = None
    opset: PositiveInt | None = None
    overwrite: bool = False
    trust_checkpoint: bool = False
