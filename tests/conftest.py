"""Test-wide settings: offline hubs (must be set before timm / huggingface_hub are imported); no ``--help`` text
stored in the user's cache (tests/apps/test_help_cache.py switches it on in a folder of its own)."""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("FACEXFORMER_NO_HELP_CACHE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# processes spawned by tests (DDP workers) unpickle functions of test modules, so they must find `tests`:
# multiprocessing gives them this process's sys.path
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# a copy of the reference material tests read (provenance: tests/fixtures/PROVENANCE.md)
SHARED = Path(os.environ.get("FACEXFORMER_SHARED", ROOT / "tests" / "fixtures" / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The reference material the fidelity tests compare against; a missing copy fails them."""
    if not (SHARED / "reference").is_dir():
        pytest.fail(f"test fixtures not found at {SHARED}/reference (see tests/fixtures/PROVENANCE.md)")
    return SHARED


@pytest.fixture
def task_registry():
    """``facexformer.tasks.TASKS``, restored after the test: a task class defined in a test registers itself,
    and its labels would otherwise reach the crop, collate and synthetic faces of every later test."""
    from facexformer.tasks import TASKS

    saved = dict(TASKS)
    yield TASKS
    TASKS.clear()
    TASKS.update(saved)


TINY = {"backbone": "test_convnext", "image_size": 64, "dim": 32, "decoder_mlp_dim": 64}


@pytest.fixture
def tiny_kwargs() -> dict:
    """Constructor arguments of a FaceXFormer small enough for CPU tests (timm's test_convnext, 64 px)."""
    return dict(TINY)
