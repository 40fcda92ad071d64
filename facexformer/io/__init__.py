"""Files in and out: reading every checkpoint kind, the released format, the Hub, atomic writes, and image
decoding (``facexformer.io.image``)."""

from facexformer.io.atomic import write_atomically, write_folder_atomically, write_json
from facexformer.io.checkpoint import Checkpoint, read_checkpoint, resolve_source
from facexformer.io.errors import CheckpointError, CheckpointNotFoundError
from facexformer.io.released import convert_released_state_dict

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointNotFoundError",
    "convert_released_state_dict",
    "read_checkpoint",
    "resolve_source",
    "write_atomically",
    "write_folder_atomically",
    "write_json",
]
