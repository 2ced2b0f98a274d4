"""Save a trained class-conditioned noise network so that it loads and samples in a fresh Python
process, without the notebook that defined it (the assessment's hand-in; notebook 06).

One file, ``assessment_model.pt2`` by default (:data:`EXPORT_FILENAME`), written next to the
notebook. It is a ``torch.export`` program (PyTorch 2.x, ``torch.export.save``; TorchScript's
``torch.jit.trace`` is deprecated since torch 2.10) with a dynamic batch dimension, holding

* the network ``eps = net(x_t, t, c, c_mask)``: x_t (B, C, H, W) float32, t (B,) int64 steps,
  c (B, n_classes) float one-hot class, c_mask (B, 1) float (1 keeps the class, 0 drops it);
* an extra file ``course_config.json``: format tag, ``betas`` of the training schedule (T
  floats, so any schedule round-trips exactly), ``n_classes``, the guidance scale ``w`` the
  student chose, ``image_size``, ``channels`` and the declared ``pixel_range`` of the
  training images (``[-1, 1]`` in this course).

Loading needs only ``torch`` and this module (``python -m helpers.gate assessment_model.pt2``).

Before anything loads a hand-in, :func:`inspect_export` checks its structure without running or
unpickling any of it (the archive is a zip; the program is JSON): bounded sizes, no symlinks or
odd names, only the entries ``torch.export.save`` writes, a parameter budget that fits a U-Net
but not a table of stored digits, and a graph made only of the layers the course's networks
export to. ``torch.export.load`` does unpickle parts of the archive (see
:func:`inspect_export`), so a grader must inspect before it loads.

References: Ho et al. 2020 (DDPM), Ho & Salimans 2022 (classifier-free guidance).
"""
from __future__ import annotations

import copy
import io
import json
import pickletools
import re
import stat
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .ddpm import EpsFn, cfg_eps_fn
from .schedules import Schedule

__all__ = ["EXPORT_FILENAME", "FORMAT", "CONFIG_NAME", "ExportedModel", "export_model", "load_exported",
           "inspect_export", "ALLOWED_OPS", "MAX_TENSOR_ELEMENTS", "MAX_SINGLE_TENSOR", "MAX_ARCHIVE_BYTES"]

EXPORT_FILENAME = "assessment_model.pt2"
FORMAT = "diffusion-course/cfg-ddpm-v1"
CONFIG_NAME = "course_config.json"


class _Wrapper(nn.Module):
    """Calls ``model(x, t, c, c_mask)`` with the argument order fixed for export."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor, c_mask: torch.Tensor) -> torch.Tensor:
        return self.model(x, t, c, c_mask)


def _example_inputs(batch: int, channels: int, size: int, T: int, n_classes: int):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, size, size, generator=g)  # (B, C, H, W)
    t = torch.randint(0, T, (batch,), generator=g)  # (B,)
    c = torch.eye(n_classes)[torch.arange(batch) % n_classes]  # (B, n_classes)
    mask = torch.ones(batch, 1)  # (B, 1)
    mask[::2] = 0
    return x, t, c, mask


def export_model(model: nn.Module, path: str | Path = EXPORT_FILENAME, *, sched: Schedule, w: float,
                 n_classes: int = 10, image_size: int = 28, channels: int = 1,
                 pixel_range: tuple[float, float] = (-1.0, 1.0), extra: dict | None = None,
                 verify: bool = True) -> Path:
    """Write ``model`` (a noise predictor ``model(x, t, c, c_mask)``) and its settings to ``path``.

    The model is copied to the CPU in eval mode (the caller's model is not changed). With
    ``verify`` the file is loaded back and must reproduce the model's output on a test batch.
    Returns the path written.
    """
    w = float(w)
    if not (w == w) or w < 0:
        raise ValueError(f"w must be a number >= 0, got {w}")
    path = Path(path)
    was_training = model.training
    device = next(iter(model.parameters()), torch.empty(0)).device
    model.eval()
    try:
        cpu_model = _Wrapper(model).to("cpu")
        ex = _example_inputs(4, channels, image_size, sched.T, n_classes)
        batch = torch.export.Dim("batch", min=1, max=1 << 20)
        program = torch.export.export(cpu_model, ex, dynamic_shapes=({0: batch}, {0: batch}, {0: batch}, {0: batch}))
        config = {
            "format": FORMAT,
            "betas": [float(b) for b in sched.betas.double().cpu()],
            "T": int(sched.T),
            "n_classes": int(n_classes),
            "w": w,
            "image_size": int(image_size),
            "channels": int(channels),
            "pixel_range": [float(pixel_range[0]), float(pixel_range[1])],
            "model_class": type(model).__name__,
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "torch": torch.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **(extra or {}),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.export.save(program, str(path), extra_files={CONFIG_NAME: json.dumps(config)})
        if verify:
            with torch.inference_mode():
                x = _example_inputs(6, channels, image_size, sched.T, n_classes)
                want = cpu_model(*x)
                got = load_exported(path).net(*x)
            err = float((want - got).abs().max())
            if not err <= 1e-4:
                raise RuntimeError(f"the exported model differs from the live one (max |diff| {err:.3g})")
    finally:
        model.to(device)
        model.train(was_training)
    return path


@dataclass
class ExportedModel:
    """A loaded hand-in: the network, its schedule and settings."""

    net: Any  # callable (x, t, c, c_mask) -> eps
    config: dict
    sched: Schedule
    path: Path | None = None
    notes: list[str] = field(default_factory=list)
    program: Any = None  # the torch.export program ``net`` was made from (None: ``net`` is a plain module)

    @property
    def w(self) -> float:
        return float(self.config["w"])

    @property
    def n_classes(self) -> int:
        return int(self.config["n_classes"])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        s = int(self.config["image_size"])
        return int(self.config["channels"]), s, s

    def to(self, device) -> "ExportedModel":
        """Run the network on ``device``.

        An exported program is moved with ``torch.export.passes.move_to_device_pass``, not with
        ``Module.to``: the program records the device of its inputs and of the tensors its graph
        creates (an export made on the CPU checks "Tensor device mismatch! Expected: cpu" on
        every call), and ``.to`` moves only the weights. A plain module moves with ``.to``.
        """
        device = torch.device(device)
        if self.program is not None:
            current = next(iter(self.net.parameters()), torch.empty(0)).device
            if current != device:
                try:
                    from torch.export.passes import move_to_device_pass  # torch >= 2.6
                except ImportError:  # older torch has no such pass: move the weights only (the CPU gate is unaffected)
                    self.net = self.net.to(device)
                    return self
                # the pass moves the program's own weights: work on a copy, keep the loaded one
                with warnings.catch_warnings():  # torch 2.11's deepcopy of a program warns about its own internals
                    warnings.simplefilter("ignore", FutureWarning)
                    program = copy.deepcopy(self.program)
                self.net = move_to_device_pass(program, device).module()
        elif isinstance(self.net, nn.Module):
            self.net = self.net.to(device)
        return self

    def eps_fn(self, labels: torch.Tensor, w: float | None = None) -> EpsFn:
        """Classifier-free guided ``eps_fn(x_t, t)`` for the integer ``labels`` (B,):
        :func:`helpers.ddpm.cfg_eps_fn` with the one-hot class on the device of ``x_t``."""
        w = self.w if w is None else float(w)
        net = self.net

        def eps_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            c = torch.nn.functional.one_hot(labels.to(x.device).long(), self.n_classes).float()  # (B, K)
            return cfg_eps_fn(net, c, w)(x, t)

        return eps_fn


def load_exported(path: str | Path, device=None) -> ExportedModel:
    """Load a file written by :func:`export_model` (raises ``ValueError`` with a readable reason
    when it is not one)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no exported model at {path} (the notebook writes {EXPORT_FILENAME})")
    extra = {CONFIG_NAME: ""}
    try:
        with warnings.catch_warnings():  # torch's own loader warns that its read-only buffer is read-only
            warnings.filterwarnings("ignore", message="The given buffer is not writable")
            program = torch.export.load(str(path), extra_files=extra)
    except Exception as exc:  # not a torch.export archive
        raise ValueError(f"{path} is not a torch.export file written by helpers.export: {exc}") from exc
    try:
        config = json.loads(extra[CONFIG_NAME])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} has no readable {CONFIG_NAME}; write it with helpers.export.export_model") from exc
    if config.get("format") != FORMAT:
        raise ValueError(f"{path}: format {config.get('format')!r}, expected {FORMAT!r}")
    sched = Schedule.from_betas(torch.tensor(config["betas"], dtype=torch.float64))
    model = ExportedModel(program.module(), config, sched, path, program=program)
    return model.to(device) if device is not None else model


# --------------------------------------------------------------------------- structural inspection

#: Every op a hand-in's graph may call. Derived by exporting the course's networks (helpers.unet:
#: UNet, TimeUNet, OptimizedUNet, ConditionalUNet at (16, 32) and (32, 64), i.e. notebook 06's
#: model on a CPU and on a GPU) and listing the targets of their graphs, plus the close relatives
#: a student's own variant of these layers may export to (other norms, activations, resampling,
#: elementwise arithmetic and reshapes). Deliberately absent: lookups that pick stored data by
#: index (embedding, index, gather, index_select, take, argmax/argmin, topk, sort, where),
#: control flow (torch.ops.higher_order.*), random numbers, and any custom op.
ALLOWED_OPS = frozenset("torch.ops.aten." + name for name in (
    # seen in the course's networks
    "conv2d.default", "conv_transpose2d.input", "linear.default", "group_norm.default", "batch_norm.default",
    "gelu.default", "relu.default", "max_pool2d.default", "add.Tensor", "mul.Tensor", "div.Tensor", "cat.default",
    "reshape.default", "permute.default", "unsqueeze.default", "unflatten.int", "arange.default", "exp.default",
    "sin.default", "cos.default", "to.dtype", "sym_size.int", "_assert_tensor_metadata.default",
    # close relatives
    "convolution.default", "conv1d.default", "addmm.default", "mm.default", "matmul.default",
    "layer_norm.default", "native_group_norm.default", "native_layer_norm.default",
    "_native_batch_norm_legit_no_training.default", "instance_norm.default",
    "silu.default", "sigmoid.default", "tanh.default", "leaky_relu.default", "softplus.default", "elu.default",
    "mish.default", "hardtanh.default", "softmax.int", "_softmax.default", "dropout.default",
    "avg_pool2d.default", "adaptive_avg_pool2d.default", "upsample_nearest2d.vec", "upsample_bilinear2d.vec",
    "pixel_shuffle.default", "pixel_unshuffle.default", "pad.default", "constant_pad_nd.default",
    "add.Scalar", "sub.Tensor", "sub.Scalar", "rsub.Scalar", "mul.Scalar", "div.Scalar", "neg.default",
    "pow.Tensor_Scalar", "sqrt.default", "rsqrt.default", "log.default", "mean.dim", "mean.default",
    "sum.dim_IntList", "sum.default", "clamp.default", "arange.start", "arange.start_step",
    "view.default", "flatten.using_ints", "squeeze.dim", "squeeze.dims", "expand.default", "transpose.int",
    "t.default", "clone.default", "contiguous.default", "chunk.default", "split.Tensor", "split_with_sizes.default",
    "slice.Tensor", "repeat.default", "_to_copy.default", "alias.default", "detach.default",
    "_assert_scalar.default", "sym_constrain_range_for_size.default",
)) | frozenset({"_operator.getitem", "_operator.add", "_operator.sub", "_operator.mul", "_operator.floordiv"})

MAX_ARCHIVE_BYTES = 64 << 20  # the whole file
MAX_ENTRY_BYTES = 32 << 20  # any one entry, uncompressed
MAX_TOTAL_BYTES = 96 << 20  # all entries, uncompressed (zip bombs)
MAX_ENTRIES = 4096
MAX_JSON_BYTES = 16 << 20  # the serialized program
MAX_NODES = 5000
MAX_LITERALS = 100_000  # numbers written into the graph itself (op arguments)
#: Parameters + buffers + constants, in elements (any dtype). The course's 06 U-Net has 109 k
#: (423 k at (32, 64)); 4 M leaves room for a wider U-Net but not for the 7.8 M values of
#: 10,000 stored MNIST digits.
MAX_TENSOR_ELEMENTS = 4_000_000
#: Largest single tensor, in elements: the widest course layer has 37 k; a (1024, 1024) linear fits,
#: a table of 2,000 stored digits does not.
MAX_SINGLE_TENSOR = 1 << 20

#: The only globals the pickled part of an archive written by ``torch.export.save`` of a course
#: model references (its example inputs, ``data/sample_inputs/model.pt``, a ``torch.save`` file).
_PICKLE_GLOBALS = frozenset({("torch._utils", "_rebuild_tensor_v2"), ("collections", "OrderedDict")} | {
    ("torch", f"{k}Storage") for k in ("Float", "Long", "Half", "BFloat16", "Double", "Int", "Bool", "Byte")})
_ENTRY_PATTERNS = [re.compile(p) for p in (
    r"archive_format", r"archive_version", r"byteorder", r"\.data/version", r"\.data/serialization_id",
    r"models/model\.json", r"data/weights/model_weights_config\.json", r"data/weights/weight_\d+",
    r"data/constants/model_constants_config\.json", r"data/constants/tensor_\d+",
    r"data/sample_inputs/model\.pt", r"extra/" + re.escape(CONFIG_NAME))]
# torch._export.serde.schema.ScalarType -> bytes per element (unknown codes count 1 byte)
_DTYPE_BYTES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 2, 7: 4, 8: 8, 9: 4, 10: 8, 11: 16, 12: 1, 13: 2, 28: 2, 29: 1, 30: 1,
                31: 1, 32: 1, 33: 1, 34: 4, 35: 8}


def _int(v) -> int:
    if isinstance(v, dict) and "as_int" in v:
        return int(v["as_int"])
    raise ValueError(f"not a static size: {v!r}")


def _numel(meta: dict) -> int:
    n = 1
    for d in meta.get("sizes", []):
        n *= _int(d)
    return n


def _pickle_globals(data: bytes) -> list[str]:
    """The globals a pickle would import, read with pickletools (nothing is executed). A global
    that cannot be resolved statically is reported as "<unresolved STACK_GLOBAL>"."""
    found, recent, memo = [], [None, None], {}
    for op, arg, _ in pickletools.genops(data):
        name = op.name
        if name in ("GLOBAL", "INST"):
            found.append(".".join(str(arg).split(" " if name == "INST" else None, 1)) if name == "INST"
                         else str(arg).replace(" ", "."))
        elif name == "STACK_GLOBAL":
            m, n = recent
            found.append(f"{m}.{n}" if isinstance(m, str) and isinstance(n, str) else "<unresolved STACK_GLOBAL>")
        elif name.startswith("EXT"):
            found.append(f"<extension registry code {arg}>")
        if name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING",
                    "STRING"):
            recent = [recent[1], arg]
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[arg] = recent[1]
        elif name == "MEMOIZE":
            memo[len(memo)] = recent[1]
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            recent = [recent[1], memo.get(arg)]
        elif op.stack_after and name not in ("MEMOIZE", "FRAME", "PROTO"):
            recent = [recent[1], None]
    return found


def _global_ok(g: str) -> bool:
    mod, _, name = g.rpartition(".")
    return (mod, name) in _PICKLE_GLOBALS


def _walk_graph(graph: dict, out: dict, depth: int = 0) -> None:
    if depth > 0:
        raise ValueError("the program holds a nested graph (control flow), which the course's networks never do")
    nodes = graph.get("nodes", [])
    if not isinstance(nodes, list):
        raise ValueError("the program's graph has no node list")
    out["nodes"] += len(nodes)
    if out["nodes"] > MAX_NODES:
        raise ValueError(f"the program has more than {MAX_NODES} nodes")
    for node in nodes:
        target = node.get("target") if isinstance(node, dict) else None
        if not isinstance(target, str):
            raise ValueError("a node of the program has no target")
        out["ops"].add(target)
        stack = [node.get("inputs", [])]
        while stack:  # count literal numbers in the arguments; find nested graphs
            v = stack.pop()
            if isinstance(v, dict):
                for key, x in v.items():
                    if key == "as_graph":
                        _walk_graph(x.get("graph", {}) if isinstance(x, dict) else {}, out, depth + 1)
                    elif key in ("as_floats", "as_ints", "as_bools") and isinstance(x, list):
                        out["literals"] += len(x)
                    elif key in ("as_float", "as_int"):
                        out["literals"] += 1
                    else:
                        stack.append(x)
            elif isinstance(v, list):
                stack.extend(v)
        if out["literals"] > MAX_LITERALS:
            raise ValueError(f"the program's graph holds more than {MAX_LITERALS} literal numbers")


def inspect_export(path: str | Path) -> dict:
    """Check a hand-in's structure **without running or unpickling any of it**.

    Opens the ``.pt2`` file as a zip (bounded: file, entry and total sizes, entry count), refuses
    symlinks and odd or unexpected entry names, parses the serialized program (``models/model.json``)
    and the weight/constant configs as JSON, and checks that

    * parameters + buffers + constants hold at most :data:`MAX_TENSOR_ELEMENTS` values and no
      tensor more than :data:`MAX_SINGLE_TENSOR` (a U-Net fits, a table of stored digits does not);
    * every op of the graph is in :data:`ALLOWED_OPS` (no control flow, no custom ops, no lookups);
    * nothing in the archive is a pickle except the example inputs that ``torch.export.save``
      always writes (``data/sample_inputs/model.pt``), and that pickle references only the globals
      of plain tensors (read with :mod:`pickletools`, not executed). ``torch.export.load`` (torch
      2.14) unpickles that entry with ``torch.load(weights_only=True)`` **and falls back to
      weights_only=False when that fails**; it also unpickles, with weights_only=False or plain
      ``pickle.loads``, weights and constants marked ``use_pickle`` (tensor subclasses), custom or
      opaque object constants, and legacy ``data/weights/model.pt`` / ``data/constants/model.pt``
      files: all refused here.

    Returns a JSON-safe dict: ``ok`` (bool), ``reason`` (why not, or "ok"), ``parameters``,
    ``buffers``, ``constants`` (element counts), ``tensor_bytes`` (their stored bytes),
    ``largest_tensor`` ([name, elements]), ``ops`` (sorted op names), ``nodes``, ``entries``,
    ``archive_bytes`` and ``pickled`` ({entry: [globals it references]}). Never raises.
    """
    info: dict[str, Any] = {"ok": False, "reason": "", "parameters": 0, "buffers": 0, "constants": 0,
                            "tensor_bytes": 0, "largest_tensor": None, "ops": [], "nodes": 0, "entries": 0,
                            "archive_bytes": 0, "pickled": {}}
    try:
        info["reason"] = _inspect(Path(path), info) or "ok"
    except Exception as exc:  # anything malformed is a refusal, never a crash
        info["reason"] = f"malformed archive: {type(exc).__name__}: {exc}"[:500]
    info["ok"] = info["reason"] == "ok"
    return info


def _read(z: zipfile.ZipFile, zi: zipfile.ZipInfo, cap: int) -> bytes:
    with z.open(zi) as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise ValueError(f"entry {zi.filename} is larger than {cap} bytes")
    return data


def _inspect(path: Path, info: dict) -> str | None:
    if not path.is_file():
        return f"no exported model at {path} (the notebook writes {EXPORT_FILENAME})"
    size = path.stat().st_size
    info["archive_bytes"] = size
    if size > MAX_ARCHIVE_BYTES:
        return f"the file is {size / 2**20:.0f} MiB, more than the {MAX_ARCHIVE_BYTES >> 20} MiB a course model needs"
    if not zipfile.is_zipfile(path):
        return "not a torch.export archive (not a zip file)"
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        info["entries"] = len(infos)
        if len(infos) > MAX_ENTRIES:
            return f"the archive has {len(infos)} entries (at most {MAX_ENTRIES})"
        names = [zi.filename for zi in infos]
        if len(set(names)) != len(names):
            return "the archive has duplicate entry names"
        total, files, root = 0, {}, None
        for zi in infos:
            name = zi.filename
            mode = zi.external_attr >> 16
            if stat.S_ISLNK(mode):
                return f"entry {name!r} is a symbolic link"
            if (not name or name.startswith(("/", "\\")) or "\\" in name or ".." in name.split("/")
                    or any(ord(ch) < 32 or ch in ':*?"<>|' for ch in name)):
                return f"entry name {name!r} is not a plain relative path"
            head, _, rest = name.partition("/")
            root = head if root is None else root
            if head != root:
                return f"entries are not all under one folder ({root!r} and {head!r})"
            if zi.is_dir() or not rest:
                continue
            if not any(p.fullmatch(rest) for p in _ENTRY_PATTERNS):
                return (f"unexpected entry {name!r}: torch.export.save writes only the program, its weights, "
                        f"constants, example inputs and {CONFIG_NAME}")
            if zi.file_size > MAX_ENTRY_BYTES:
                return f"entry {name!r} declares {zi.file_size} bytes (at most {MAX_ENTRY_BYTES})"
            total += zi.file_size
            if total > MAX_TOTAL_BYTES:
                return f"the archive unpacks to more than {MAX_TOTAL_BYTES >> 20} MiB"
            files[rest] = zi
        for need in ("models/model.json", "data/weights/model_weights_config.json",
                     "data/constants/model_constants_config.json", "data/sample_inputs/model.pt",
                     "extra/" + CONFIG_NAME):
            if need not in files:
                return f"the archive has no {need} (write it with helpers.export.export_model)"

        # weights and constants: sizes from their JSON configs, stored bytes from the zip
        largest = ("", 0)
        for kind, cfg_name, prefix in (("weights", "data/weights/model_weights_config.json", "data/weights/"),
                                       ("constants", "data/constants/model_constants_config.json", "data/constants/")):
            cfg = json.loads(_read(z, files[cfg_name], MAX_JSON_BYTES)).get("config", {})
            if not isinstance(cfg, dict):
                return f"{cfg_name} is malformed"
            for fqn, meta in cfg.items():
                if not isinstance(meta, dict):
                    return f"{cfg_name}: entry {fqn!r} is malformed"
                if meta.get("use_pickle"):
                    return (f"{kind[:-1]} {fqn!r} is stored as a pickle (use_pickle), which torch.export.load "
                            "unpickles with weights_only=False; a course model never needs it")
                pname = str(meta.get("path_name", ""))
                if prefix + pname not in files:
                    return f"{kind[:-1]} {fqn!r} points to a missing or unexpected entry {pname!r}"
                tm = meta.get("tensor_meta") or {}
                n = _numel(tm)
                if n * _DTYPE_BYTES.get(tm.get("dtype"), 1) > files[prefix + pname].file_size + 64:
                    return f"{kind[:-1]} {fqn!r} is larger than its stored data"
                key = "parameters" if meta.get("is_param") else ("buffers" if kind == "weights" else "constants")
                info[key] += n
                if n > largest[1]:
                    largest = (fqn, n)
            info["tensor_bytes"] += sum(zi.file_size for r, zi in files.items()
                                        if r.startswith(prefix) and not r.endswith(".json"))
        info["largest_tensor"] = list(largest) if largest[1] else None
        n_tensor = info["parameters"] + info["buffers"] + info["constants"]

        # the graph
        program = json.loads(_read(z, files["models/model.json"], MAX_JSON_BYTES))
        graph = program["graph_module"]["graph"]
        walk = {"ops": set(), "nodes": 0, "literals": 0}
        _walk_graph(graph, walk)
        info["ops"] = sorted(walk["ops"])
        info["nodes"] = walk["nodes"]

        # the one pickle: the example inputs (a torch.save zip holding data.pkl and raw storages)
        sample = _read(z, files["data/sample_inputs/model.pt"], 4 << 20)
        pickled = {}
        if sample:
            with zipfile.ZipFile(io.BytesIO(sample)) as inner:
                pk = [zi for zi in inner.infolist() if zi.filename.endswith(".pkl")]
                if len(pk) != 1 or len(inner.infolist()) > 64:
                    return "data/sample_inputs/model.pt is not a plain torch.save file of tensors"
                pickled["data/sample_inputs/model.pt"] = sorted(set(_pickle_globals(_read(inner, pk[0], 1 << 20))))
        info["pickled"] = pickled

    bad_globals = [g for gs in pickled.values() for g in gs if not _global_ok(g)]
    if bad_globals:
        return ("the pickled example inputs (data/sample_inputs/model.pt) reference "
                + ", ".join(bad_globals[:5]) + ": torch.export.load would unpickle them")
    if n_tensor > MAX_TENSOR_ELEMENTS:
        return (f"the network stores {n_tensor:,} values (parameters {info['parameters']:,}, buffers "
                f"{info['buffers']:,}, constants {info['constants']:,}); at most {MAX_TENSOR_ELEMENTS:,}: "
                "the course's U-Net has 109,249, and 10,000 stored digits would be 7,840,000")
    if largest[1] > MAX_SINGLE_TENSOR:
        return (f"tensor {largest[0]!r} holds {largest[1]:,} values (at most {MAX_SINGLE_TENSOR:,} in one "
                "tensor; the largest layer of the course's U-Net has 36,864)")
    extra = sorted(set(info["ops"]) - ALLOWED_OPS)
    if extra:
        return ("the network uses ops outside the course's layers: " + ", ".join(extra[:8])
                + (" ..." if len(extra) > 8 else "") + " (allowed: convolutions, linear layers, norms, "
                "activations, pooling/resampling, elementwise arithmetic and reshapes)")
    return None
