"""Contrastive image-text embeddings (CLIP) with a locked pretrained text tower, and the
conditioning path from those embeddings into the diffusion U-Net (notebook 05's reference code).

References:

* CLIP: Radford et al. 2021, "Learning Transferable Visual Models From Natural Language
  Supervision": two encoders, L2-normalised embeddings, the N x N cosine-similarity matrix
  divided by a learned temperature, and the symmetric cross-entropy over its rows and columns
  (the InfoNCE loss of van den Oord et al. 2018, "Representation Learning with Contrastive
  Predictive Coding"); zero-shot classification by the nearest class-prompt embedding, with
  prompt ensembling (the mean of several captions per class).
* LiT: Zhai et al. 2022, "LiT: Zero-Shot Transfer with Locked-image text Tuning": one tower is a
  pretrained model kept frozen ("locked"), only the other tower learns. LiT locks the image
  tower; here the *text* tower is locked (a real pretrained language model that runs offline)
  and a small image encoder learns to meet it.
* Conditioning a diffusion model on CLIP image embeddings and sampling from text embeddings:
  Ramesh et al. 2022 ("Hierarchical Text-Conditional Image Generation with CLIP Latents",
  unCLIP / DALL-E 2, which adds a prior to bridge the two); the gap between the image and the
  text embeddings: Liang et al. 2022 ("Mind the Gap"). Classifier-free guidance: Ho & Salimans 2022.

The locked text tower (MiniLM, or optionally OpenAI CLIP's) is in :mod:`helpers.text_encoders`;
the plots of notebook 05 (:func:`helpers.plot.similarity_heatmap`, :func:`helpers.plot.image_rows`)
in :mod:`helpers.plot`.

Conventions: images are (B, 3, H, W) in [-1, 1]; embeddings are (B, D) float tensors; a
"similarity matrix" ``sim[i, j]`` is the cosine similarity of image i and text j, in [-1, 1].
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import make_loader, mirror_shift
from .ddpm import cfg_eps_fn, context_mask, ddim_sample, noise_loss
from .schedules import Schedule
from .text_encoders import TEXT_DIM, encode_text

# Notebook 05 calls these as clip.<name>; the copies students have already downloaded (and the
# graded demo submissions) keep working because they are importable from here as well.
from .data import random_mirror as hflip  # noqa: F401
from .plot import image_rows, similarity_heatmap  # noqa: F401
from .text_encoders import available_backends, load_text_encoder  # noqa: F401

__all__ = [
    "EMBED_DIM", "CLASS_NAMES", "FLOWER_CAPTIONS", "ZERO_SHOT_TEMPLATE", "DEMO_PROMPTS",
    "cosine_similarity_matrix", "contrastive_loss", "zero_shot_predict",
    "ImageEncoder", "FlowerCLIP", "caption_bank", "class_prompts", "class_embeddings",
    "clip_batch_loss", "train_clip", "embed_images", "zero_shot_accuracy", "retrieve",
    "image_context", "text_context", "cond_diffusion_loss", "sample_from_prompt",
    "retrieval_prior", "sample_from_context",
]

EMBED_DIM = 64  # the shared image-text space of the flower CLIP (also the U-Net's c_dim)

# Singular names, in the label order of helpers.data.FLOWER_CLASSES (daisy, dandelion, roses,
# sunflowers, tulips).
CLASS_NAMES = ("daisy", "dandelion", "rose", "sunflower", "tulip")

# Descriptive training captions, several per class. The photos have no captions of their own, so
# every photo is paired with a random caption of its class ("weak", class-level captions).
FLOWER_CAPTIONS: dict[str, tuple[str, ...]] = {
    "daisy": (
        "a photo of a daisy, a white flower with a yellow centre",
        "a white daisy with a yellow center",
        "white petals around a small yellow disc",
        "a daisy growing in the grass",
        "a close-up of a common daisy",
        "small white and yellow daisies in a meadow",
        "a marguerite with thin white petals",
    ),
    "dandelion": (
        "a photo of a dandelion, a bright yellow wild flower",
        "a yellow dandelion in the grass",
        "a fluffy white dandelion seed head",
        "a dandelion clock ready to blow away",
        "a bright yellow flower with many thin petals",
        "a weed with a shaggy yellow flower head",
        "a close-up of a dandelion",
    ),
    "rose": (
        "a photo of a rose, a flower with layered petals",
        "a red rose",
        "a pink rose in bloom",
        "a bouquet of roses",
        "a close-up of rose petals",
        "a rose bush in a garden",
        "a single rose with spiralling petals",
    ),
    "sunflower": (
        "a photo of a sunflower, a big yellow flower with a dark centre",
        "a tall sunflower against a blue sky",
        "a field of sunflowers",
        "yellow petals around a large brown seed head",
        "a close-up of a sunflower",
        "a huge sunflower on a green stem",
        "a bright yellow sunflower in summer",
    ),
    "tulip": (
        "a photo of a tulip, a cup-shaped spring flower",
        "red tulips in a garden",
        "a field of colourful tulips",
        "a pink tulip",
        "a bunch of tulips in a vase",
        "yellow and orange tulips in spring",
        "a close-up of a tulip",
    ),
}

# Zero-shot prompts use a wording that is *not* among the training captions.
ZERO_SHOT_TEMPLATE = "a picture of a {}."

# Prompts the notebook generates from (the student adds their own).
DEMO_PROMPTS = (
    "a round white daisy with a yellow center",
    "a yellow dandelion in the grass",
    "a red rose",
    "a big sunflower with a dark centre",
    "pink tulips",
)


# --------------------------------------------------------------------------- CLIP's maths

def cosine_similarity_matrix(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """sim[i, j] = <a_i, b_j> / (|a_i| |b_j|): (N, D), (M, D) -> (N, M), values in [-1, 1].

    A zero row gives similarity 0 (norms are clamped at ``eps``)."""
    a = a / a.norm(dim=-1, keepdim=True).clamp_min(eps)  # (N, D) unit rows
    b = b / b.norm(dim=-1, keepdim=True).clamp_min(eps)  # (M, D)
    return a @ b.T  # (N, M)


def contrastive_loss(sim: torch.Tensor, temperature: float | torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE loss for a batch of N matching pairs.

    ``sim`` (N, N): cosine similarities, row i = image i, column j = text j; the pairs (i, i)
    match. ``logits = sim / temperature``; the loss is the mean of the cross-entropy of every row
    (image -> text: which text is mine?) and of every column (text -> image), each against the
    diagonal: ``(CE(logits, arange(N)) + CE(logits.T, arange(N))) / 2``. A scalar >= 0.
    """
    logits = sim / temperature  # (N, N)
    labels = torch.arange(sim.shape[0], device=sim.device)  # (N,) the diagonal
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def zero_shot_predict(image_emb: torch.Tensor, class_emb: torch.Tensor) -> torch.Tensor:
    """The class whose text embedding is most cosine-similar: (N, D), (K, D) -> (N,) int64 in [0, K)."""
    return cosine_similarity_matrix(image_emb, class_emb).argmax(dim=1)


# --------------------------------------------------------------------------- the flower CLIP

def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class ImageEncoder(nn.Module):
    """A small VGG-style CNN: (B, 3, 32, 32) in [-1, 1] -> (B, width[-1]) features.

    Three stages of two 3x3 conv + BatchNorm + ReLU with 2x2 max-pooling, then global average
    pooling (any input size divisible by 8 works)."""

    def __init__(self, widths: tuple[int, int, int] = (32, 64, 128), dropout: float = 0.1):
        super().__init__()
        w0, w1, w2 = widths
        self.features = nn.Sequential(*_conv(3, w0), *_conv(w0, w0), nn.MaxPool2d(2),
                                      *_conv(w0, w1), *_conv(w1, w1), nn.MaxPool2d(2),
                                      *_conv(w1, w2), *_conv(w2, w2), nn.MaxPool2d(2),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout))
        self.out_dim = w2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, width[-1])


class FlowerCLIP(nn.Module):
    """A LiT-style CLIP: a trainable image encoder + projection head, a *locked* pretrained text
    encoder (outside this module; its 384-d sentence embeddings come in as ``text_feats``) + a
    trainable linear projection head, and a learned temperature.

    * ``encode_image(images)``: (B, 3, H, W) -> (B, embed_dim), not normalised;
    * ``encode_text_features(text_feats)``: (B, 384) -> (B, embed_dim), not normalised;
    * ``encode_text(texts)``: strings -> locked MiniLM -> text head, (B, embed_dim), not normalised;
    * ``temperature``: ``exp(-logit_scale)``, initialised at 0.07 and kept >= 0.01 (CLIP's values);
    * ``forward(images, text_feats)``: the (B, B) cosine-similarity matrix.
    """

    def __init__(self, embed_dim: int = EMBED_DIM, text_dim: int = TEXT_DIM,
                 widths: tuple[int, int, int] = (32, 64, 128), dropout: float = 0.1, init_temperature: float = 0.07):
        super().__init__()
        self.embed_dim, self.text_dim = embed_dim, text_dim
        self.image_encoder = ImageEncoder(widths, dropout)
        self.image_head = nn.Linear(self.image_encoder.out_dim, embed_dim)
        self.text_head = nn.Linear(text_dim, embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    @property
    def temperature(self) -> torch.Tensor:
        return torch.exp(-self.logit_scale.clamp(max=math.log(100.0)))  # in [0.01, inf)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_head(self.image_encoder(images))  # (B, embed_dim)

    def encode_text_features(self, text_feats: torch.Tensor) -> torch.Tensor:
        return self.text_head(text_feats.to(self.text_head.weight.device).float())  # (B, embed_dim)

    def encode_text(self, texts: str | Sequence[str]) -> torch.Tensor:
        return self.encode_text_features(encode_text(texts))  # (B, embed_dim)

    def forward(self, images: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
        return cosine_similarity_matrix(self.encode_image(images), self.encode_text_features(text_feats))


_BANK: dict[tuple, tuple] = {}


def caption_bank(captions: dict[str, Sequence[str]] | None = None) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """All training captions with their class and their locked text features, cached per process:
    ``(texts (M,), labels (M,) int64, feats (M, 384))``."""
    captions = FLOWER_CAPTIONS if captions is None else captions
    key = tuple((k, tuple(v)) for k, v in captions.items())
    if key not in _BANK:
        texts = [t for k in captions for t in captions[k]]
        labels = torch.tensor([i for i, k in enumerate(captions) for _ in captions[k]], dtype=torch.long)
        _BANK[key] = (texts, labels, encode_text(texts))
    return _BANK[key]


def class_prompts(template: str = ZERO_SHOT_TEMPLATE, names: Sequence[str] = CLASS_NAMES) -> list[str]:
    """One prompt per class: ``template.format(name)``."""
    return [template.format(n) for n in names]


@torch.no_grad()
def class_embeddings(model: FlowerCLIP, prompts: Sequence[str] | Sequence[Sequence[str]] | None = None) -> torch.Tensor:
    """(K, embed_dim) unit class embeddings for zero-shot classification.

    ``prompts``: one string per class, or a list of strings per class (prompt ensembling: the
    normalised mean of the class's normalised caption embeddings). Default: :func:`class_prompts`.
    """
    prompts = class_prompts() if prompts is None else prompts
    out = []
    for p in prompts:
        group = [p] if isinstance(p, str) else list(p)
        e = F.normalize(model.encode_text(group), dim=-1)  # (n, D)
        out.append(F.normalize(e.mean(0), dim=-1))
    return torch.stack(out)  # (K, D)


def clip_batch_loss(model: FlowerCLIP, images: torch.Tensor, labels: torch.Tensor, bank_labels: torch.Tensor,
                    bank_feats: torch.Tensor, generator: torch.Generator | None = None,
                    loss_fn: Callable = contrastive_loss, augment_images: bool = True) -> torch.Tensor:
    """The CLIP loss of one batch: each image is paired with a random caption of its class.

    images (B, 3, H, W), labels (B,); bank_labels (M,), bank_feats (M, 384) from :func:`caption_bank`.
    With ``augment_images`` the images go through :func:`helpers.data.mirror_shift` first (mirror
    and shift, no colour changes).
    """
    labels, bank_labels = labels.cpu(), bank_labels.cpu()
    order = torch.argsort(bank_labels, stable=True)  # caption indices grouped by class
    counts = torch.bincount(bank_labels, minlength=int(labels.max()) + 1)  # (K,)
    starts = torch.cumsum(counts, 0) - counts  # (K,)
    r = (torch.rand(len(labels), generator=generator) * counts[labels]).long()  # a random caption of the class
    text_feats = bank_feats[order[starts[labels] + r].to(bank_feats.device)].to(images.device)  # (B, 384)
    if augment_images:
        images = mirror_shift(images, generator)
    sim = model(images, text_feats)  # (B, B)
    return loss_fn(sim, model.temperature)


def train_clip(model: FlowerCLIP, images: torch.Tensor, labels: torch.Tensor, *, steps: int, batch_size: int = 128,
               lr: float = 3e-3, weight_decay: float = 1e-4, max_seconds: float | None = None, seed: int = 0,
               loss_fn: Callable = contrastive_loss, device=None, progress: bool = True, warmup: float = 0.1):
    """Train the image tower, both heads and the temperature (the text tower stays locked) with
    AdamW. Returns a :class:`helpers.train.History`.

    The learning rate warms up linearly for the first ``warmup`` of training, then follows a
    cosine decay to 0. "Training" ends after ``steps`` steps or ``max_seconds`` seconds, whichever
    comes first, and the schedule follows whichever is further along, so a run cut short by the
    time cap still ends with a small learning rate instead of stopping mid-stride.
    """
    import time

    from .train import train

    device = torch.device(device) if device is not None else next(model.parameters()).device
    _, bank_labels, bank_feats = caption_bank()
    bank_feats = bank_feats.to(device)
    g = torch.Generator().manual_seed(seed)
    loader = make_loader(images, labels, batch_size=min(batch_size, len(images)), shuffle=True, seed=seed,
                         drop_last=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr * 1e-2, weight_decay=weight_decay)
    start = time.perf_counter()

    def progress_fraction(step: int) -> float:
        p = step / max(int(steps), 1)
        if max_seconds:
            p = max(p, (time.perf_counter() - start) / max_seconds)
        return min(p, 1.0)

    def set_lr(p: float) -> None:
        factor = p / warmup if p < warmup else 0.5 * (1 + math.cos(math.pi * (p - warmup) / (1 - warmup)))
        for group in opt.param_groups:
            group["lr"] = lr * max(factor, 1e-3)

    def step_loss(m, batch):
        x, y = batch
        return clip_batch_loss(m, x, y, bank_labels, bank_feats, g, loss_fn)

    def on_step(step: int, loss: float) -> bool:
        p = progress_fraction(step)
        set_lr(p)
        return p >= 1.0 and step < steps  # the time budget is spent: stop (the schedule has ended)

    set_lr(0.0)
    history = train(model, step_loss, loader, steps=steps, optimizer=opt, device=device, progress=progress,
                    desc="CLIP", on_step=on_step)
    if history.stop_reason == "on_step":
        history.stop_reason = "max_seconds"
        if progress:
            print(f"CLIP training stopped by the time cap ({max_seconds:g} s) after {history.steps} steps")
    return history


@torch.no_grad()
def embed_images(model: FlowerCLIP, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """(N, embed_dim) unit image embeddings (eval mode, in batches, on the model's device), on the CPU."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = [F.normalize(model.encode_image(images[i:i + batch_size].to(device)), dim=-1).cpu()
               for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, model.embed_dim)


def zero_shot_accuracy(model: FlowerCLIP, images: torch.Tensor, labels: torch.Tensor,
                       prompts=None, predict: Callable = zero_shot_predict) -> float:
    """Fraction of ``images`` whose nearest class prompt (:func:`class_embeddings`) is their label."""
    pred = predict(embed_images(model, images), class_embeddings(model, prompts).cpu())
    return (pred.cpu() == labels.cpu()).float().mean().item()


def retrieve(query_emb: torch.Tensor, gallery_emb: torch.Tensor, k: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k retrieval by cosine similarity: query (Q, D), gallery (N, D) -> (scores (Q, k), indices (Q, k))."""
    sim = cosine_similarity_matrix(query_emb, gallery_emb)  # (Q, N)
    return sim.topk(min(k, sim.shape[1]), dim=1)


# --------------------------------------------------------------------------- conditioning the U-Net

@torch.no_grad()
def image_context(clip_model: FlowerCLIP, images: torch.Tensor) -> torch.Tensor:
    """The U-Net's context during training: the CLIP image embedding of the clean images,
    L2-normalised, with no gradient into CLIP and BatchNorm in eval mode (the model's mode is
    restored). (B, 3, H, W) in [-1, 1] -> (B, embed_dim) unit vectors on the images' device."""
    was_training = clip_model.training
    clip_model.eval()
    try:
        emb = clip_model.encode_image(images)  # (B, D)
    finally:
        clip_model.train(was_training)
    return F.normalize(emb, dim=-1)  # (B, D)


@torch.no_grad()
def text_context(clip_model: FlowerCLIP, prompts: str | Sequence[str]) -> torch.Tensor:
    """The U-Net's context at sampling time: normalised CLIP text embeddings, (P, embed_dim)."""
    return F.normalize(clip_model.encode_text(prompts), dim=-1)  # (P, D)


def cond_diffusion_loss(unet: nn.Module, clip_model: FlowerCLIP, x0: torch.Tensor, sched: Schedule,
                        drop_prob: float = 0.1, generator: torch.Generator | None = None,
                        context_fn: Callable = image_context) -> torch.Tensor:
    """DDPM noise loss of ``unet(x, t, c, c_mask)`` with c = the CLIP image embedding of x0 and the
    context dropped with probability ``drop_prob`` (so the same network also learns the
    unconditional noise that classifier-free guidance needs)."""
    c = context_fn(clip_model, x0)  # (B, D)
    mask = context_mask(x0.shape[0], drop_prob, device=x0.device, generator=generator)  # (B, 1)
    return noise_loss(lambda x, t: unet(x, t, c, mask), x0, sched, generator=generator)


def sample_from_prompt(unet: nn.Module, clip_model: FlowerCLIP, prompt: str, sched: Schedule, n: int = 8,
                       w: float = 2.0, steps: int = 50, seed: int = 0, img_shape=(3, 32, 32),
                       device=None, progress: bool = False) -> torch.Tensor:
    """n images for one text prompt: c = the normalised text embedding (1, D) repeated n times,
    classifier-free guidance with scale ``w`` (:func:`helpers.ddpm.cfg_eps_fn`), DDIM with
    ``steps`` steps (eta = 0, the predicted clean image clipped to [-1, 1] at every step) from the
    noise of ``torch.Generator().manual_seed(seed)``. Returns (n, *img_shape) in [-1, 1].

    A U-Net trained on *image* embeddings reads the text embedding through the modality gap;
    :func:`retrieval_prior` + :func:`sample_from_context` close it."""
    return sample_from_context(unet, text_context(clip_model, prompt), sched, n=n, w=w, steps=steps, seed=seed,
                               img_shape=img_shape, device=device, progress=progress)


def sample_from_context(unet: nn.Module, context: torch.Tensor, sched: Schedule, n: int = 8, w: float = 2.0,
                        steps: int = 50, seed: int = 0, img_shape=(3, 32, 32), device=None,
                        progress: bool = False) -> torch.Tensor:
    """n images for one context vector ``context`` (D,) or (1, D), used as given (no normalising):
    classifier-free guidance ``w`` and DDIM as in :func:`sample_from_prompt`. (n, *img_shape) in [-1, 1]."""
    device = torch.device(device) if device is not None else next(unet.parameters()).device
    c = context.reshape(1, -1).to(device).expand(n, -1)  # (n, D)
    g = torch.Generator().manual_seed(seed)
    return ddim_sample(cfg_eps_fn(unet, c, w), (n, *img_shape), sched, steps=steps, generator=g, device=device,
                       clip_x0=True, progress=progress)


def retrieval_prior(text_emb: torch.Tensor, image_bank: torch.Tensor, k: int = 16) -> torch.Tensor:
    """A non-parametric *prior* from text embeddings to image embeddings, closing the modality gap.

    For each unit text embedding (row of ``text_emb``, (P, D)), the ``k`` unit image embeddings of
    ``image_bank`` (N, D) (the training photos, :func:`embed_images`) with the highest cosine
    similarity, averaged and re-normalised: (P, D) unit vectors that lie among the image
    embeddings the U-Net was trained on. DALL-E 2 (Ramesh et al. 2022) *learns* this map (its
    "prior"); retrieving neighbours instead is the idea of kNN-Diffusion (Sheynin et al. 2023) and
    retrieval-augmented diffusion (Blattmann et al. 2022). ``k = 1`` returns one training photo's
    embedding (a copy risk); a larger ``k`` averages over many photos of what the text describes.
    """
    text_emb = F.normalize(text_emb.reshape(-1, text_emb.shape[-1]).float(), dim=-1)  # (P, D)
    bank = F.normalize(image_bank.float(), dim=-1).to(text_emb.device)  # (N, D)
    if not 1 <= k <= len(bank):
        raise ValueError(f"k must be between 1 and the bank size {len(bank)}, got {k}")
    top = (text_emb @ bank.T).topk(k, dim=1).indices  # (P, k)
    return F.normalize(bank[top].mean(dim=1), dim=-1)  # (P, D)
