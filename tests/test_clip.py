"""helpers.clip against independent truth: hand-worked InfoNCE values, a loop implementation of
the loss, torch's own cosine similarity, synthetic zero-shot problems and the real MiniLM text
tower (offline)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from helpers import clip, data, plot, text_encoders
from helpers.schedules import Schedule
from helpers.unet import ConditionalUNet


def _loop_infonce(sim: torch.Tensor, tau: float) -> float:
    """InfoNCE written out with exp/log sums, no cross_entropy: the independent reference."""
    n = sim.shape[0]
    s = sim.double() / tau
    rows = sum(-(s[i, i] - torch.logsumexp(s[i, :], 0)) for i in range(n)) / n
    cols = sum(-(s[j, j] - torch.logsumexp(s[:, j], 0)) for j in range(n)) / n
    return float((rows + cols) / 2)


# --------------------------------------------------------------------------- cosine similarity

def test_cosine_matrix_matches_torch_pairwise():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 7, generator=g) * 5, torch.randn(3, 7, generator=g) * 0.1
    got = clip.cosine_similarity_matrix(a, b)
    want = F.cosine_similarity(a[:, None, :], b[None, :, :], dim=-1)  # (4, 3)
    assert got.shape == (4, 3)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


def test_cosine_matrix_zero_vector_is_zero_not_nan():
    a = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    sim = clip.cosine_similarity_matrix(a, a)
    assert torch.isfinite(sim).all()
    assert sim[0, 0] == 0 and sim[1, 1] == pytest.approx(1.0)


# --------------------------------------------------------------------------- the contrastive loss

def test_infonce_hand_computed_2x2():
    # logits = [[5, 1], [3, 2]]; rows: log(1+e^-4), log(1+e^1); columns: log(1+e^-2), log(1+e^-1)
    sim = torch.tensor([[0.5, 0.1], [0.3, 0.2]])
    rows = (math.log(1 + math.exp(-4)) + math.log(1 + math.exp(1))) / 2
    cols = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))) / 2
    assert rows == pytest.approx(0.665706, abs=1e-6) and cols == pytest.approx(0.220095, abs=1e-6)
    assert clip.contrastive_loss(sim, 0.1).item() == pytest.approx((rows + cols) / 2, abs=1e-6)
    assert (rows + cols) / 2 == pytest.approx(0.442901, abs=1e-6)


def test_infonce_equals_loop_implementation():
    g = torch.Generator().manual_seed(1)
    for n, tau in [(1, 0.07), (5, 0.07), (9, 0.5), (16, 1.0)]:
        sim = torch.tanh(torch.randn(n, n, generator=g))
        assert clip.contrastive_loss(sim, tau).item() == pytest.approx(_loop_infonce(sim, tau), abs=1e-5)


def test_infonce_symmetric_logits_give_equal_directions():
    g = torch.Generator().manual_seed(2)
    a = torch.tanh(torch.randn(6, 6, generator=g))
    sym = (a + a.T) / 2
    labels = torch.arange(6)
    rows = F.cross_entropy(sym / 0.1, labels)
    cols = F.cross_entropy(sym.T / 0.1, labels)
    torch.testing.assert_close(rows, cols)
    torch.testing.assert_close(clip.contrastive_loss(sym, 0.1), rows)
    # and in general swapping images and texts (transposing) never changes the symmetric loss
    torch.testing.assert_close(clip.contrastive_loss(a.T, 0.1), clip.contrastive_loss(a, 0.1))


def test_infonce_temperature_scaling():
    g = torch.Generator().manual_seed(3)
    sim = torch.tanh(torch.randn(8, 8, generator=g) + 2 * torch.eye(8))
    # only sim / tau matters
    torch.testing.assert_close(clip.contrastive_loss(3 * sim, 0.3), clip.contrastive_loss(sim, 0.1))
    # a diagonal-dominant matrix gets a lower loss at a lower temperature, and tau -> inf gives log N
    assert clip.contrastive_loss(sim, 0.05) < clip.contrastive_loss(sim, 0.5)
    assert clip.contrastive_loss(sim, 1e6).item() == pytest.approx(math.log(8), abs=1e-4)
    # a learned temperature (0-d tensor) receives a gradient
    tau = torch.tensor(0.07, requires_grad=True)
    clip.contrastive_loss(sim, tau).backward()
    assert tau.grad is not None and torch.isfinite(tau.grad)


# --------------------------------------------------------------------------- zero-shot

def test_zero_shot_on_synthetic_embeddings():
    g = torch.Generator().manual_seed(4)
    basis = torch.linalg.qr(torch.randn(16, 5, generator=g)).Q.T  # (5, 16) orthonormal class directions
    class_emb = basis * torch.tensor([0.1, 10.0, 1.0, 3.0, 0.5])[:, None]  # very different lengths
    y = torch.randint(0, 5, (40,), generator=g)
    images = basis[y] * 2 + 0.1 * torch.randn(40, 16, generator=g)
    pred = clip.zero_shot_predict(images, class_emb)
    assert pred.dtype == torch.long and pred.shape == (40,)
    assert torch.equal(pred, y)
    # the raw dot product would be fooled by the long class-1 embedding
    assert not torch.equal((images @ class_emb.T).argmax(1), y)


def test_retrieve_ranks_by_cosine():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    scores, idx = clip.retrieve(torch.tensor([[2.0, 0.1]]), gallery, k=3)
    assert idx.tolist() == [[0, 2, 1]]
    assert scores[0, 0] == pytest.approx(2 / math.hypot(2, 0.1), abs=1e-6)


# --------------------------------------------------------------------------- text encoders

def test_text_encoder_cache_calls_backend_once_per_sentence():
    calls = []

    def fake(texts):
        calls.append(list(texts))
        return torch.stack([torch.tensor([float(len(t)), 1.0]) for t in texts])

    enc = text_encoders.TextEncoder(fake, 2, "fake")
    a = enc.encode(["ab", "abc", "ab"])
    b = enc.encode("abc")
    assert calls == [["ab", "abc"]]
    assert a.shape == (3, 2) and b.shape == (1, 2)
    torch.testing.assert_close(a.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(a[1], b[0])


def test_minilm_text_encoder_offline():
    enc = text_encoders.load_text_encoder()
    assert enc is text_encoders.load_text_encoder()  # cached per process
    e = enc.encode(["a red rose", "a rose", "a yellow sunflower"])
    assert e.shape == (3, text_encoders.TEXT_DIM) == (3, 384)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(3), atol=1e-5, rtol=0)
    sim = clip.cosine_similarity_matrix(e, e)
    assert sim[0, 1] > sim[0, 2] + 0.2  # 'a red rose' is closer to 'a rose' than to 'a yellow sunflower'


def test_caption_bank_and_class_prompts():
    texts, labels, feats = clip.caption_bank()
    assert len(texts) == 35 and feats.shape == (35, 384)
    assert torch.bincount(labels).tolist() == [7] * 5
    assert all(clip.CLASS_NAMES[int(y)] in t or clip.CLASS_NAMES[int(y)] + "s" in t or t
               for t, y in zip(texts, labels))
    prompts = clip.class_prompts()
    assert prompts[0] == "a picture of a daisy." and len(prompts) == 5
    assert not set(prompts) & set(texts)  # zero-shot wording is held out of training


def test_backends_and_open_clip_is_optional():
    assert "minilm" in text_encoders.available_backends()
    with pytest.raises(ValueError, match="unknown text backend"):
        text_encoders.load_text_encoder("word2vec")
    if "open_clip" not in text_encoders.available_backends():
        with pytest.raises(ImportError, match="open_clip"):
            text_encoders.OpenCLIPBackend()


def test_names_notebook_05_calls_stay_in_clip():
    """Notebook 05 calls these as clip.<name>; copies students have already downloaded must keep working."""
    assert clip.load_text_encoder is text_encoders.load_text_encoder
    assert clip.available_backends is text_encoders.available_backends
    assert clip.encode_text is text_encoders.encode_text
    assert clip.similarity_heatmap is plot.similarity_heatmap and clip.image_rows is plot.image_rows
    assert clip.hflip is data.random_mirror


# --------------------------------------------------------------------------- model and conditioning

def _tiny():
    torch.manual_seed(0)
    return clip.FlowerCLIP(embed_dim=8, widths=(4, 8, 8))


def test_flower_clip_shapes_and_temperature():
    m = _tiny()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    assert m.encode_image(x).shape == (3, 8)
    assert m.encode_text(["a rose", "a tulip"]).shape == (2, 8)
    sim = m(x, torch.randn(3, 384))
    assert sim.shape == (3, 3) and (sim.abs() <= 1 + 1e-6).all()
    assert m.temperature.item() == pytest.approx(0.07, rel=1e-5)
    with torch.no_grad():
        m.logit_scale.fill_(10.0)
    assert m.temperature.item() == pytest.approx(0.01, rel=1e-5)  # clamped like CLIP


def test_image_context_unit_no_grad_eval_and_mode_restored():
    m = _tiny().train()
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    stats = [b.clone() for n, b in m.named_buffers() if "running" in n]
    c = clip.image_context(m, x)
    assert c.shape == (4, 8) and not c.requires_grad
    torch.testing.assert_close(c.norm(dim=1), torch.ones(4))
    assert m.training
    assert all(torch.equal(a, b) for a, b in zip(stats, [b for n, b in m.named_buffers() if "running" in n]))
    torch.testing.assert_close(clip.image_context(m, x[:1]), c[:1])


def test_augmentations_keep_shape_and_pixels():
    """The CLIP's augmentation (helpers.data.mirror_shift) and the U-Net's (helpers.data.random_mirror,
    the mirror half of mirror_shift: the same flips from the same seed)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 3, 8, 8)
    y = data.mirror_shift(x, g, pad=2)
    assert y.shape == x.shape
    f = data.random_mirror(x, torch.Generator().manual_seed(1))
    for i in range(5):
        assert torch.equal(f[i], x[i]) or torch.equal(f[i], x[i].flip(-1))
    assert torch.equal(f, data.mirror_shift(x, torch.Generator().manual_seed(1), pad=0))


def test_cond_loss_and_sample_from_prompt_shapes():
    m = _tiny().eval()
    torch.manual_seed(0)
    unet = ConditionalUNet(in_ch=3, chs=(8, 16), c_dim=8)
    sched = Schedule.linear(50)
    x0 = torch.rand(4, 3, 32, 32) * 2 - 1
    loss = clip.cond_diffusion_loss(unet, m, x0, sched, generator=torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is None for p in m.parameters())  # CLIP stays frozen
    a = clip.sample_from_prompt(unet, m, "a red rose", sched, n=2, w=2.0, steps=3, seed=0)
    b = clip.sample_from_prompt(unet, m, "a red rose", sched, n=2, w=2.0, steps=3, seed=0)
    assert a.shape == (2, 3, 32, 32) and a.abs().max() <= 1
    torch.testing.assert_close(a, b)


def test_retrieval_prior_hand_worked():
    """Bank of three unit vectors; the text [1, 0] has cosines 1, 0, 0.6 with them."""
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    text = torch.tensor([[2.0, 0.0]])  # not unit: normalised inside
    torch.testing.assert_close(clip.retrieval_prior(text, bank, k=1), torch.tensor([[1.0, 0.0]]))
    # k = 2: mean of [1, 0] and [0.6, 0.8] = [0.8, 0.4] -> normalised [2, 1] / sqrt(5)
    torch.testing.assert_close(clip.retrieval_prior(text, bank, k=2), torch.tensor([[2.0, 1.0]]) / math.sqrt(5))
    # k = N: the normalised mean of the whole bank, whatever the text
    full = F.normalize(bank.mean(0, keepdim=True), dim=-1)
    torch.testing.assert_close(clip.retrieval_prior(torch.tensor([[0.0, 1.0]]), bank, k=3), full)
    two = clip.retrieval_prior(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), bank, k=1)  # (P, D) rows independent
    torch.testing.assert_close(two, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    for bad in (0, 4):
        with pytest.raises(ValueError, match="k must be between 1 and the bank size 3"):
            clip.retrieval_prior(text, bank, k=bad)


def test_retrieval_prior_lands_among_image_embeddings():
    """On random unit embeddings, the prior context is closer to the bank than the text itself,
    unit norm, and k = 1 returns exactly the most similar bank row."""
    g = torch.Generator().manual_seed(0)
    bank = F.normalize(torch.randn(200, 16, generator=g) + 2.0, dim=-1)  # a cluster away from the texts
    text = F.normalize(torch.randn(5, 16, generator=g), dim=-1)
    prior = clip.retrieval_prior(text, bank, k=8)
    assert prior.shape == (5, 16)
    torch.testing.assert_close(prior.norm(dim=1), torch.ones(5))
    best_text = (text @ bank.T).max(dim=1).values
    assert bool(((prior @ bank.T).max(dim=1).values > best_text).all())
    top1 = clip.retrieval_prior(text, bank, k=1)
    torch.testing.assert_close(top1, bank[(text @ bank.T).argmax(dim=1)])


def test_sample_from_context_equals_sample_from_prompt_on_the_text_context():
    m = _tiny().eval()
    torch.manual_seed(0)
    unet = ConditionalUNet(in_ch=3, chs=(8, 16), c_dim=8).eval()
    sched = Schedule.linear(50)
    a = clip.sample_from_prompt(unet, m, "a red rose", sched, n=2, w=3.0, steps=3, seed=5)
    b = clip.sample_from_context(unet, clip.text_context(m, "a red rose")[0], sched, n=2, w=3.0, steps=3, seed=5)
    torch.testing.assert_close(a, b)
    c = clip.sample_from_context(unet, clip.text_context(m, "a sunflower")[0], sched, n=2, w=3.0, steps=3, seed=5)
    assert not torch.allclose(a, c)  # the context reaches the U-Net


def test_train_clip_lowers_the_loss_on_a_few_photos():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(5).repeat(16)  # 80 fake photos: one colour per class
    colours = torch.tensor([[1, 1, 1], [1, 1, -1], [1, -1, -1], [1, 0.5, -1], [1, -1, 1]], dtype=torch.float)
    x = (colours[y][:, :, None, None] + 0.3 * torch.randn(80, 3, 16, 16, generator=g)).clamp(-1, 1)
    torch.manual_seed(0)
    m = clip.FlowerCLIP(embed_dim=8, widths=(4, 8, 8))
    hist = clip.train_clip(m, x, y, steps=40, batch_size=16, lr=5e-3, progress=False)
    assert hist.steps == 40
    assert sum(hist.losses[-8:]) / 8 < sum(hist.losses[:8]) / 8
    assert clip.zero_shot_accuracy(m, x, y) > 0.4
