import torch

from facexformer.batch import select_samples
from facexformer.data import SyntheticFaces, collate_multitask


def test_select_samples_keeps_the_masked_rows_of_every_per_sample_tensor():
    faces = SyntheticFaces(3, 32, seed=0, tasks=["landmarks", "gender"])
    batch = collate_multitask([faces[i] for i in range(3)])
    batch["scale"] = torch.tensor(2.0)  # not one row per sample: left out
    mask = torch.tensor([True, False, True])
    sub = select_samples(batch, mask)
    assert set(sub) == {k for k, v in batch.items() if isinstance(v, torch.Tensor) and k != "scale"}
    for key, value in sub.items():
        assert torch.equal(value, batch[key][[0, 2]]), key
    assert "source" not in sub and "task_mask" not in sub  # lists and dicts are not rows
