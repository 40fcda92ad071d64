"""A process that called ``end_with_parent`` ends when its parent is killed with SIGKILL."""

import subprocess
import sys
import time

import psutil

from facexformer.data import worker_lifetime

#: the module is loaded from its file alone (it needs only the standard library): no torch import, a fast test
PARENT = """
import importlib.util, os, sys, time
spec = importlib.util.spec_from_file_location("worker_lifetime", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
end_with_parent = module.end_with_parent
parent = os.getpid()
child = os.fork()
if child == 0:
    end_with_parent(parent, interval=0.2)
    time.sleep(600)
    os._exit(0)
print(child, flush=True)
time.sleep(600)
"""


def test_a_worker_ends_with_its_killed_parent() -> None:
    source = worker_lifetime.__file__
    parent = subprocess.Popen([sys.executable, "-c", PARENT, source], stdout=subprocess.PIPE, text=True)
    child = psutil.Process(int(parent.stdout.readline()))
    try:
        time.sleep(0.5)
        assert child.is_running()
        parent.kill()
        parent.wait(timeout=10)
        gone, alive = psutil.wait_procs([child], timeout=5)
        assert not alive, "the child outlived its SIGKILLed parent"
    finally:
        parent.kill()
        if child.is_running():
            child.kill()


def test_the_datamodule_workers_end_with_their_parent_too() -> None:
    """The training and evaluation loaders' workers call ``end_with_parent`` (a killed fit leaves none)."""
    import os

    from facexformer.data.datamodule import MultiTaskDataModule
    from facexformer.data.synthetic import SyntheticFaces

    faces = {"s": SyntheticFaces(8, 64, seed=1, tasks=["gender"])}
    data = MultiTaskDataModule(train=faces, val=faces, batch_size=4, batches_per_epoch=1, num_workers=1)
    for loader in (data.train_dataloader(), data.val_dataloader()):
        assert loader.worker_init_fn.func is worker_lifetime.end_with_parent_worker_init
        assert loader.worker_init_fn.args == (os.getpid(),)
    batch = next(iter(data.train_dataloader()))
    assert batch["image"].shape == (4, 3, 64, 64)
