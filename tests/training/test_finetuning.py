import warnings

import lightning as L
import pytest
from torch import nn

from facexformer import FaceXFormer
from facexformer.data import MultiTaskDataModule, SyntheticFaces
from facexformer.training.finetuning import FreezeAllBut, keep_frozen_in_eval, set_trainable


class RecordModes(L.Callback):
    """Records, before every training step, the frozen modules in train mode, the modules in train mode and the
    trainable parameters."""

    def __init__(self):
        self.steps: list[tuple[set[str], set[str], set[str]]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        modules = dict(pl_module.net.named_modules())
        frozen = {
            n for n, m in modules.items() if list(m.parameters()) and not any(p.requires_grad for p in m.parameters())
        }
        training = {n for n, m in modules.items() if m.training}
        trainable = {n for n, p in pl_module.named_parameters() if p.requires_grad}
        self.steps.append((frozen & training, training, trainable))


def test_frozen_modules_stay_in_eval_through_validation(tmp_path, tiny_kwargs):
    model = FaceXFormer(
        tasks=["landmarks", "gender"], trainable=["net.heads.gender"], **{**tiny_kwargs, "backbone": "resnet18"}
    )
    assert FreezeAllBut in [type(c) for c in model.configure_callbacks()]
    model.train()  # a whole-model train() before fit: the callback puts the frozen part back in eval
    record = RecordModes()
    dm = MultiTaskDataModule(
        train={"s": SyntheticFaces(8, 64, seed=1)}, val={"s": SyntheticFaces(4, 64, seed=2)}, batch_size=4, augment={}
    )
    trainer = L.Trainer(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        default_root_dir=tmp_path,
        callbacks=[record],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(model, dm)
    assert not [w for w in caught if "eval mode" in str(w.message)]  # the frozen part is in eval on purpose
    assert len(record.steps) == 4  # two epochs of two batches, a validation between them
    for frozen_training, training, trainable in record.steps:
        assert not frozen_training, sorted(frozen_training)[:5]
        assert "heads.gender.mlp" in training and "backbone.body" not in training
        assert trainable and all(name.startswith("net.heads.gender") for name in trainable)


def test_keep_frozen_in_eval_leaves_modules_with_a_trainable_parameter_alone():
    model = nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 2), nn.Dropout())
    set_trainable(model, ["1."])
    keep_frozen_in_eval(model.train())
    assert [m.training for m in model] == [False, True, True]  # the dropout has no parameters


@pytest.mark.parametrize(("prefixes", "match"), [([], "trainable is empty"), (["2."], "matches no parameter")])
def test_set_trainable_refuses_prefixes_that_train_nothing(prefixes, match):
    with pytest.raises(ValueError, match=match):
        set_trainable(nn.Sequential(nn.Linear(3, 2)), prefixes)
