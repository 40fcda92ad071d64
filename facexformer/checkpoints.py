"""Checkpoint files: the released FaceXFormer file, ``save_pretrained`` folders, safe loading, the HF Hub.

The released ``ckpts/model.pt`` holds ``{"state_dict_backbone": <whole model>}`` with torchvision ``swin_b``
keys. ``convert_official_state_dict`` renames it to this package's layout (timm Swin, ``FaceXFormerNet``) with
one regex table, like timm's ``checkpoint_filter_fn``: a pure function, no I/O.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from facexformer.tasks.base import Task

OFFICIAL_KEY = "state_dict_backbone"
#: HF Hub ids whose weights are a released FaceXFormer file (repo id -> file in the repo)
OFFICIAL_HUB_FILES = {"kartiknarayan/facexformer": "ckpts/model.pt"}

# released key pattern -> our key (backbone = timm swin features_only; merges move to the next stage)
_BACKBONE_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^backbone\.0\.0\.0\.(.*)$"), lambda m: f"backbone.body.patch_embed.proj.{m[1]}"),
    (re.compile(r"^backbone\.0\.0\.2\.(.*)$"), lambda m: f"backbone.body.patch_embed.norm.{m[1]}"),
    (
        re.compile(r"^backbone\.0\.([1357])\.(\d+)\.(.*)$"),
        lambda m: (
            f"backbone.body.layers_{(int(m[1]) - 1) // 2}.blocks.{m[2]}."
            + m[3].replace("mlp.0.", "mlp.fc1.").replace("mlp.3.", "mlp.fc2.")
        ),
    ),
    (re.compile(r"^backbone\.0\.([246])\.(.*)$"), lambda m: f"backbone.body.layers_{int(m[1]) // 2}.downsample.{m[2]}"),
    (re.compile(r"^linear_c\.(\d+)\.proj\.(.*)$"), lambda m: f"fusion.proj.{m[1]}.{m[2]}"),
    (re.compile(r"^linear_fuse\.weight$"), lambda m: "fusion.fuse.weight"),
    (re.compile(r"^pe_layer\.positional_encoding_gaussian_matrix$"), lambda m: "position.gaussian_matrix"),
    (re.compile(r"^face_decoder\.transformer\.(.*)$"), lambda m: f"decoder.{m[1]}"),
]
# released keys with no counterpart: Swin's recomputed index buffers and the unused final norm
_DROPPED = re.compile(r"(relative_position_index$|^backbone\.1\.)")


def convert_official_state_dict(state: dict[str, torch.Tensor], tasks: Sequence[Task]) -> dict[str, torch.Tensor]:
    """Released FaceXFormer keys -> ``FaceXFormerNet`` keys for the given tasks.

    Released tasks that are not configured are dropped; a key that no rule knows raises ``KeyError``.
    """
    rules = list(_BACKBONE_RULES)
    for task in tasks:
        for official, ours in task.official_prefixes.items():
            rules.append((re.compile("^" + re.escape(official) + "(.*)$"), lambda m, ours=ours: ours + m[1]))
    known_official = {p for cls in _official_task_prefixes() for p in cls}
    converted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if _DROPPED.search(key):
            continue
        for pattern, rename in rules:
            match = pattern.match(key)
            if match:
                converted[rename(match)] = value
                break
        else:
            if not any(key.startswith(p) for p in known_official):
                raise KeyError(f"released checkpoint key {key!r} matches no conversion rule")
    return converted


def _official_task_prefixes() -> list[tuple[str, ...]]:
    from facexformer.tasks import TASKS

    return [tuple(cls.official_prefixes) for cls in TASKS.values()]


def safe_torch_load(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU, with errors that say what went wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"refusing to load {path}: it contains pickled Python objects beyond tensors and plain containers, "
            "which could run arbitrary code. Only load files you trust; re-save trusted ones as safetensors "
            f"(FaceXFormer.save_pretrained). Details: {err}"
        ) from err
    except RuntimeError as err:
        raise ValueError(f"{path} is not a readable PyTorch checkpoint: {err}") from err


def read_official_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``state_dict_backbone`` entry of a released FaceXFormer file."""
    content = safe_torch_load(path)
    if not isinstance(content, dict) or OFFICIAL_KEY not in content:
        keys = list(content)[:5] if isinstance(content, dict) else type(content).__name__
        raise ValueError(f"{path} is not a released FaceXFormer file: no {OFFICIAL_KEY!r} entry (found {keys})")
    return content[OFFICIAL_KEY]


def hub_download(repo_id: str, filename: str) -> Path:
    """Fetch one file from the HF Hub (or its local cache); offline, a clear error with the manual steps."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(repo_id, filename))
    except (LocalEntryNotFoundError, OSError) as err:
        raise FileNotFoundError(
            f"could not download {filename!r} from the Hugging Face Hub repo {repo_id!r} and it is not in the "
            f"local cache ({err.__class__.__name__}). On a machine with internet access run\n"
            f"    huggingface-cli download {repo_id} {filename} --local-dir ./facexformer-weights\n"
            f"then copy the folder here and load the file by path, e.g. "
            f"FaceXFormer.from_pretrained('./facexformer-weights/{filename}')."
        ) from err


def write_atomically(path: Path, write: Callable[[Path], None], overwrite: bool = False) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path`` in one step.

    An existing ``path`` is only replaced when ``overwrite`` is true.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: Path, data: dict, overwrite: bool = False) -> None:
    """Write ``data`` as indented JSON, atomically."""
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"), overwrite)
