import math

import pytest
import torch
import torch.nn.functional as F

from facexformer.losses.arcface import ArcFaceLoss


def _direct_arcface(embeddings, weight, labels, scale, margin):
    cosine = F.normalize(embeddings, dim=1) @ F.normalize(weight, dim=1).T
    logits = cosine.clone()
    for row, label in enumerate(labels.tolist()):
        theta = math.acos(float(cosine[row, label]))
        if theta + margin <= math.pi:
            logits[row, label] = math.cos(theta + margin)
        else:
            logits[row, label] = cosine[row, label] - margin * math.sin(margin)
    return F.cross_entropy(scale * logits, labels)


def test_arcface_matches_direct_formula():
    torch.manual_seed(0)
    loss_fn = ArcFaceLoss(embedding_dim=4, num_classes=6, scale=8.0, margin=0.5).double()
    embeddings = torch.randn(5, 4, dtype=torch.float64)
    labels = torch.tensor([0, 3, 3, 5, 1])
    expected = _direct_arcface(embeddings, loss_fn.weight.detach(), labels, 8.0, 0.5)
    assert torch.allclose(loss_fn(embeddings, labels), expected)


def test_arcface_fallback_beyond_pi_and_zero_margin_is_plain_softmax():
    loss_fn = ArcFaceLoss(embedding_dim=2, num_classes=2, scale=1.0, margin=0.5).double()
    with torch.no_grad():
        loss_fn.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    embeddings = torch.tensor([[-1.0, 0.01]], dtype=torch.float64)  # theta to class 0 ~ pi
    labels = torch.tensor([0])
    cosine = F.normalize(embeddings, dim=1) @ loss_fn.weight.detach().T
    target = cosine[0, 0] - 0.5 * math.sin(0.5)
    expected = F.cross_entropy(torch.stack([target, cosine[0, 1]])[None], labels)
    assert torch.allclose(loss_fn(embeddings, labels), expected)
    plain = ArcFaceLoss(embedding_dim=2, num_classes=2, scale=3.0, margin=0.0).double()
    plain_cos = F.normalize(embeddings, dim=1) @ F.normalize(plain.weight.detach(), dim=1).T
    assert torch.allclose(plain(embeddings, labels), F.cross_entropy(3.0 * plain_cos, labels))


def test_arcface_gradients_reach_embeddings_and_centres():
    torch.manual_seed(1)
    loss_fn = ArcFaceLoss(embedding_dim=3, num_classes=4, scale=4.0).double()
    embeddings = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([1, 2, 1])
    assert torch.autograd.gradcheck(lambda e: loss_fn(e, labels), (embeddings,))
    loss_fn(embeddings, labels).backward()
    assert loss_fn.weight.grad.abs().sum() > 0


def test_partial_fc_sampling_keeps_positives_and_scores_only_the_subset():
    torch.manual_seed(2)
    loss_fn = ArcFaceLoss(embedding_dim=4, num_classes=20, scale=8.0, sample_rate=0.25).double()
    embeddings = torch.randn(3, 4, dtype=torch.float64)
    labels = torch.tensor([17, 2, 17])
    torch.manual_seed(5)
    index, remapped = loss_fn.sample_classes(labels)
    assert index.numel() == 5 and torch.equal(index, index.sort().values)
    assert {2, 17} <= set(index.tolist())
    assert torch.equal(index[remapped], labels)
    torch.manual_seed(5)
    loss = loss_fn(embeddings, labels)
    expected = _direct_arcface(embeddings, loss_fn.weight.detach()[index], remapped, 8.0, 0.5)
    assert torch.allclose(loss, expected)
    loss.backward()
    untouched = torch.ones(20, dtype=torch.bool)
    untouched[index] = False
    assert loss_fn.weight.grad[untouched].abs().sum() == 0
    # more positives than slots: all positives, nothing else
    many = torch.arange(8)
    assert torch.equal(loss_fn.sample_classes(many)[0], many)
    # eval mode scores every class
    loss_fn.eval()
    full = _direct_arcface(embeddings, loss_fn.weight.detach(), labels, 8.0, 0.5)
    assert torch.allclose(loss_fn(embeddings, labels), full)


@pytest.mark.parametrize(
    ("kwargs", "labels", "message"),
    [
        ({}, torch.tensor([0, 7]), r"\[0, 5\]"),
        ({}, torch.tensor([0.0, 1.0]), "integers"),
        ({"sample_rate": 0.0}, None, "sample_rate"),
    ],
)
def test_arcface_rejects_bad_input(kwargs, labels, message):
    with pytest.raises(ValueError, match=message):
        ArcFaceLoss(embedding_dim=4, num_classes=6, **kwargs)(torch.zeros(2, 4), labels)
