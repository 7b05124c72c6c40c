"""Domain-shift training recipes of s2e_lib.ser.train: mixup, corpus-adversarial and
arousal/valence heads, soft targets (issue 25)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from s2e_lib.emotions import AROUSAL_VALENCE, MISSION_EMOTIONS
from s2e_lib.ser.models import MLPClassifier
from s2e_lib.ser.train import (
    AuxiliaryHeads,
    TrainConfig,
    fit,
    gradient_reversal,
    masked_cross_entropy,
    mixup_partners,
    smoothed_targets,
    soft_cross_entropy,
)


def corpus_data(n: int = 400, d: int = 12, seed: int = 0):
    """Emotion in feature 0, the corpus (3 of them) as an offset in features 1-3."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, n)
    corpus = rng.integers(0, 3, n)
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[:, 0] += y
    x[np.arange(n), 1 + corpus] += 2.0
    return x, y, corpus


def test_soft_cross_entropy_equals_the_masked_one_for_smoothed_one_hot_targets() -> None:
    rng = np.random.default_rng(1)
    logits = torch.from_numpy(rng.normal(size=(6, 5)).astype(np.float32))
    labels = np.array([0, 1, 2, 3, 4, 0])
    masks = np.ones((6, 5), bool)
    masks[0, 1] = masks[0, 2] = False  # a corpus without neutral and fear
    weights = torch.tensor([1.0, 2.0, 0.5, 1.0, 1.0, 3.0])
    q = smoothed_targets(labels, masks, 0.1)
    assert np.allclose(q.sum(1), 1.0) and q[0, 1] == 0 and q[0, 2] == 0
    a = masked_cross_entropy(logits, torch.from_numpy(labels), torch.from_numpy(masks), weights, 0.1)
    b = soft_cross_entropy(logits, torch.from_numpy(q), torch.from_numpy(masks), weights)
    assert torch.allclose(a, b, atol=1e-6)


def test_mixup_partners_cross_corpora() -> None:
    rng = np.random.default_rng(0)
    groups = np.array([0, 0, 0, 1, 2, 2])
    partner = mixup_partners(groups, rng, across=True)
    assert np.all(groups[partner] != groups)
    same = mixup_partners(np.zeros(5, int), np.random.default_rng(0), across=True)
    assert sorted(same.tolist()) == list(range(5))  # one corpus: a permutation of the batch


def test_gradient_reversal_flips_and_scales_the_gradient() -> None:
    x = torch.ones(3, requires_grad=True)
    gradient_reversal(x, 0.25).mul(torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([-0.25, -0.5, -0.75]))
    y = torch.ones(2)
    assert torch.equal(gradient_reversal(y, 1.0), y)


def _train_with_head(adversarial: bool) -> float:
    """Accuracy of the corpus head after 1,200 steps, trained through the reversal or on a
    detached representation (a plain probe)."""
    x, y, corpus = corpus_data(600, 16)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = MLPClassifier(16, 5, hidden=(32,))
    model.fit_normalization(torch.from_numpy(x))
    heads = AuxiliaryHeads(32, 3, TrainConfig(adversarial=1.0), 5)
    opt = torch.optim.AdamW(list(model.parameters()) + list(heads.parameters()), lr=2e-3)
    eye5, eye3 = torch.eye(5), torch.eye(3)
    for step in range(1200):
        idx = torch.from_numpy(rng.integers(0, len(y), 32))
        logits, emb = model(torch.from_numpy(x)[idx], with_embedding=True)
        w = torch.ones(32)
        loss = soft_cross_entropy(logits, eye5[y[idx]], torch.ones(32, 5, dtype=torch.bool), w)
        emb_for_head = emb if adversarial else emb.detach()
        loss = loss + heads.loss(
            emb_for_head, eye5[y[idx]], eye3[corpus[idx]], w, 1.0 if not adversarial else step / 1200
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        _, emb = model(torch.from_numpy(x), with_embedding=True)
        return float((heads.corpus(emb).argmax(1).numpy() == corpus).mean())


def test_corpus_adversary_is_fooled_only_through_the_reversal() -> None:
    probe = _train_with_head(adversarial=False)
    fooled = _train_with_head(adversarial=True)
    assert probe > 0.65  # the corpus offset is plain to see
    assert fooled < probe - 0.15


def test_arousal_valence_head_targets_and_errors() -> None:
    heads = AuxiliaryHeads(8, 1, TrainConfig(arousal_valence=1.0), 5)
    assert heads.corpus is None and heads.active  # one corpus: nothing to be adversarial about
    table = heads.av_table.numpy()
    assert np.allclose(table[MISSION_EMOTIONS.index("angry")], AROUSAL_VALENCE["angry"])
    # an aroused, negative emotion sits closer to another than to sad
    angry, fear, sad = (np.array(AROUSAL_VALENCE[e]) for e in ("angry", "fear", "sad"))
    assert np.linalg.norm(angry - fear) < np.linalg.norm(angry - sad)
    emb = torch.zeros(2, 8)
    loss = heads.loss(emb, torch.eye(5)[[0, 4]], torch.ones(2, 1), torch.ones(2), 0.5)
    bias = heads.arousal_valence.bias.detach()
    expected = ((bias - heads.av_table[0]) ** 2).sum() + ((bias - heads.av_table[4]) ** 2).sum()
    assert torch.allclose(loss, expected / 2)
    with pytest.raises(ValueError, match="arousal"):
        AuxiliaryHeads(8, 1, TrainConfig(arousal_valence=1.0), 2, labels=["angry", "bored"])
    assert not AuxiliaryHeads(8, 3, TrainConfig(), 5).active


def test_fit_with_every_recipe_keeps_the_checkpoint_keys_and_is_deterministic() -> None:
    x, y, corpus = corpus_data(300)
    groups = np.array(["ased", "emovo", "nemo"])[corpus]
    feats = list(x)
    plain = fit(feats[:240], y[:240], feats[240:], y[240:], 5, TrainConfig(epochs=4), progress=False)
    config = TrainConfig(epochs=4, mixup=0.4, adversarial=0.5, arousal_valence=0.5)
    runs = [
        fit(feats[:240], y[:240], feats[240:], y[240:], 5, config, progress=False, train_groups=groups[:240])
        for _ in range(2)
    ]
    keys = list(plain.model.state_dict())
    assert list(runs[0].model.state_dict()) == keys  # the heads never reach the checkpoint
    for k in keys:
        assert torch.equal(runs[0].model.state_dict()[k], runs[1].model.state_dict()[k]), k
    assert not torch.equal(runs[0].model.state_dict()["fc.weight"], plain.model.state_dict()["fc.weight"])


def test_fit_refuses_what_the_recipes_cannot_do() -> None:
    x, y, _ = corpus_data(60)
    with pytest.raises(ValueError, match="train_groups"):
        fit(list(x), y, [], [], 5, TrainConfig(epochs=1, adversarial=1.0), progress=False)
    seqs = [np.zeros((8, 30), np.float32) for _ in range(6)]
    with pytest.raises(ValueError, match="mixup"):
        fit(
            seqs,
            [0, 1, 2, 3, 4, 0],
            [],
            [],
            5,
            TrainConfig(model="crnn", epochs=1, mixup=0.4),
            progress=False,
        )
