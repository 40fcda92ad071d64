"""``facexformer export``: a trained model as a TorchScript or ONNX file for deployment without this package.

The exported graph takes one input, ``images``: float32 (B, 3, S, S) ImageNet-normalised RGB
(``(x / 255 - mean) / std`` with mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)) of face crops made as
the model's crop describes (``FaceXFormer.crop_settings``, ``facexformer.geometry.crop``). It returns the raw
outputs of the chosen tasks as a tuple, **in the order of** ``--tasks`` (default: the model's task order); the
ONNX outputs are also named after the tasks. Raw means before ``Task.decode``: e.g. landmarks (B, N, 2) in
[-1, 1], headpose (B, 3) radians (pitch, yaw, roll), parsing (B, K, S, S) logits, classification logits. The
batch dimension is dynamic in ONNX; TorchScript is traced, so it takes any batch size and the traced image
size. A ``facexformer.json`` (tasks in output order, image size, mean, std, the face crop's settings) is stored
inside the TorchScript file (``_extra_files``) and in the ONNX metadata. Files are written atomically and
never replace an existing file without ``--overwrite``. torch is imported when a model is exported, not with this
module, so that ``facexformer export --help`` is quick.
"""

from __future__ import annotations

import dataclasses
import io
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facexformer.apps.command_options import ExportOptions

if TYPE_CHECKING:
    import torch
    from torch import nn

PROG = "facexformer export"
DESCRIPTION = "Export a model to TorchScript or ONNX (input: normalised crops; outputs: raw heads)."
FORMATS = ("onnx", "torchscript")
METADATA_NAME = "facexformer.json"


def export_metadata(model: Any, tasks: Sequence[str], image_size: int) -> dict[str, Any]:
    """What a consumer of the exported file needs: output order, input size, normalisation, the face crop."""
    return {
        "outputs": list(tasks),
        "input": "images",
        "image_size": image_size,
        "mean": model.pixel_mean.flatten().tolist(),
        "std": model.pixel_std.flatten().tolist(),
        "tasks": [model.task(name).to_config() for name in tasks],
        "crop": {**dataclasses.asdict(model.crop_settings), "size": image_size},
    }


def export_model(
    model: Any,
    path: str | Path,
    format: str = "onnx",
    tasks: Sequence[str] | None = None,
    image_size: int | None = None,
    opset: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``model`` (a ``FaceXFormer``) as ``format`` to ``path``; returns the path.

    ``tasks``: outputs, in order (default all); ``image_size``: input side (default the model's);
    ``opset``: ONNX opset (default: torch's).
    """
    import torch

    from facexformer.apps.export_wrapper import ExportWrapper

    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {FORMATS}")
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass --overwrite (overwrite=True) to replace it")
    tasks = list(tasks) if tasks else list(model.task_names)
    size = int(image_size or model.hparams.image_size)
    wrapper = ExportWrapper(model.cpu().float().eval(), tasks).eval()
    example = torch.zeros(2, 3, size, size)  # not 1: torch.export would fix a batch of one as a constant
    metadata = json.dumps(export_metadata(model, tasks, size))
    if format == "torchscript":
        with torch.no_grad(), warnings.catch_warnings():
            # shape checks become constants: the traced graph keeps the traced image size (documented)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            traced = torch.jit.trace(wrapper, example, check_trace=False)
        serialized = io.BytesIO()  # torch's C++ file writer aborts the process on a full disk: write from Python
        torch.jit.save(traced, serialized, {METADATA_NAME: metadata})
        _write(path, lambda tmp: tmp.write_bytes(serialized.getbuffer()), overwrite)
    else:
        program = _onnx_program(wrapper, example, tasks, opset)
        _write(path, lambda tmp: _save_onnx(program, tmp, metadata), overwrite)
    return path


class ExportWriteError(OSError):
    """The exported file could not be written (a full disk, a read-only folder...); nothing was left behind."""


def _write(path: Path, write: Any, overwrite: bool) -> None:
    """``write_atomically``, with the C++ writers' errors (a full disk) turned into one ``ExportWriteError``;
    temporary copies of ``path`` a killed export left are removed first."""
    from facexformer.io.atomic import remove_leftovers, write_atomically

    remove_leftovers(path.parent, lambda name: name == path.name)
    try:
        write_atomically(path, write, overwrite)
    except FileExistsError:
        raise
    except (OSError, RuntimeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err).splitlines()[0]
        raise ExportWriteError(f"cannot write {path}: {reason} (is the disk full or the folder read-only?)") from err


def _onnx_program(wrapper: nn.Module, example: torch.Tensor, tasks: list[str], opset: int | None) -> Any:
    """The ``torch.onnx`` program of ``wrapper`` (dynamic batch size), ready to be saved."""
    import torch

    try:
        import onnx  # noqa: F401 - needed by the exporter and by _save_onnx
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as err:
        raise ModuleNotFoundError(
            f"ONNX export needs the `export` extra ({err.name} is not installed): "
            'pip install "facexformer[export]" (onnx, onnxscript, onnxruntime); --format torchscript needs nothing'
        ) from None
    batch = torch.export.Dim("batch", min=1)
    return torch.onnx.export(
        wrapper,
        (example,),
        input_names=["images"],
        output_names=list(tasks),
        opset_version=opset,
        dynamic_shapes={"images": {0: batch}},
        dynamo=True,
    )


def _save_onnx(program: Any, target: Path, meta: str) -> None:
    import onnx

    program.save(str(target))
    proto = onnx.load(str(target))
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_NAME, meta
    onnx.save(proto, str(target))


def build_parser() -> Any:
    """The jsonargparse parser of ``facexformer export`` (options from ``ExportOptions``)."""
    from facexformer.apps.cli_parsing import options_parser

    return options_parser(ExportOptions, PROG, DESCRIPTION)


def parse_args(argv: Sequence[str] | None = None) -> ExportOptions:
    """``facexformer export`` arguments (``sys.argv[1:]`` by default) as ``ExportOptions``."""
    from facexformer.apps.cli_parsing import parse_options

    return parse_options(ExportOptions, sys.argv[1:] if argv is None else argv, PROG, DESCRIPTION)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``facexformer export``; returns 0 when the file is written. A mistake (an unloadable
    checkpoint, an unknown task, an existing output without ``--overwrite``, a missing ONNX package) exits
    with status 2 and a one-line message; a file that cannot be written (a full disk) returns 1, with one line."""
    from facexformer.apps.cli_parsing import describe, report

    args = parse_args(argv)
    tasks = [t for text in args.tasks for t in text.split(",") if t] if args.tasks else None
    try:
        from facexformer.module import FaceXFormer

        model = FaceXFormer.from_pretrained(args.checkpoint, trusted=args.trust_checkpoint)
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as err:
        report(PROG, f"cannot load a model from {args.checkpoint}: {describe(err)}", err)
    try:
        path = export_model(model, args.out, args.format, tasks, args.image_size, args.opset, args.overwrite)
    except ExportWriteError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except (FileExistsError, FileNotFoundError, KeyError, ValueError, ModuleNotFoundError) as err:
        report(PROG, describe(err), err)
    print(f"wrote {path} ({args.format}; outputs in this order: {', '.join(tasks or model.task_names)})")
    return 0


def __getattr__(name: str) -> Any:
    if name == "ExportWrapper":  # it subclasses torch's nn.Module: imported on first use
        from facexformer.apps.export_wrapper import ExportWrapper

        return ExportWrapper
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
