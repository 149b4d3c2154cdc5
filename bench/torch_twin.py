"""The PyTorch twin of an mgc architecture (conf/models/*.yaml).

Builds an nn.Module whose state_dict has exactly the tensor names and
layouts of the mgc model (layer index or `name:` as prefix), so weights move
both ways, and reads/writes safetensors files without the safetensors
package (Debian does not ship it). Used by the parity test
(tests/torch_parity.py), the benchmarks (bench/) and for training on a GPU
elsewhere: `mgc-model import ARCH.yaml STATE.safetensors OUT`.

Only for reference values and side-by-side comparisons: mgc itself never
needs Python.
"""
import collections
import json
import struct

import numpy as np
import torch
import torch.nn as nn
import yaml

# ---- safetensors ---------------------------------------------------------

_DT = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64,
       "I32": np.int32}


def read_safetensors(path):
    """(dict name -> np.ndarray, metadata dict)"""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        if t["dtype"] == "BF16":
            raw = np.frombuffer(blob[base + b:base + e], dtype=np.uint16).astype(np.uint32)
            arr = (raw << 16).view(np.float32)
        else:
            arr = np.frombuffer(blob[base + b:base + e], dtype=_DT[t["dtype"]])
        out[name] = arr.reshape(t["shape"]).copy()
    return out, meta


def write_safetensors(path, tensors, metadata=None, dtype="F32"):
    """tensors: ordered dict name -> array (written as float32 unless I64)."""
    header = {}
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    chunks, off = [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype == np.int64:
            dt, raw = "I64", arr.tobytes()
        elif dtype == "BF16":
            u = np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32)
            dt, raw = "BF16", (u >> 16).astype(np.uint16).tobytes()
        elif dtype == "F64":
            dt, raw = "F64", arr.astype(np.float64).tobytes()
        else:
            dt, raw = "F32", arr.astype(np.float32).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape),
                        "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


# ---- modules mgc has and torch.nn does not -------------------------------

class ToSequence(nn.Module):
    """[N, C, H, W] -> [N, W, C*H]; [N, C, L] -> [N, L, C] (time last)."""

    def forward(self, x):
        if x.dim() == 4:
            n, c, h, w = x.shape
            return x.permute(0, 3, 1, 2).reshape(n, w, c * h)
        return x.permute(0, 2, 1)


class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1)


class GlobalPool(nn.Module):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        x = x.reshape(x.shape[0], x.shape[1], -1)
        return x.mean(dim=2) if self.mode == "avg" else x.amax(dim=2)


class TemporalPool(nn.Module):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        return x.mean(dim=1) if self.mode == "mean" else x.amax(dim=1)


def _recurrent(base):
    class R(base):
        def __init__(self, ret, **kw):
            super().__init__(batch_first=True, **kw)
            self.ret = ret

        def forward(self, x):
            y, _ = super().forward(x)
            if self.ret != "last":
                return y
            h = self.hidden_size
            if self.bidirectional:
                return torch.cat([y[:, -1, :h], y[:, 0, h:]], dim=1)
            return y[:, -1]
    return R


GRU = _recurrent(nn.GRU)
LSTM = _recurrent(nn.LSTM)


def _pair(v, default):
    if v is None:
        v = default
    if isinstance(v, list):
        return tuple(v) if len(v) == 2 else (v[0], v[0])
    return (v, v)


def _one(v, default):
    if v is None:
        return default
    return v[0] if isinstance(v, list) else v


class Twin(nn.Sequential):
    """forward() gives logits (a trailing softmax is kept aside)."""

    def predict(self, x):
        return torch.softmax(self(x), dim=-1)


def build(arch_text, n_classes=None, no_dropout=False):
    """Build the twin of an architecture YAML text. no_dropout sets every
    dropout probability to 0 (for gradient parity)."""
    spec = yaml.safe_load(arch_text)
    classes = n_classes or spec.get("classes")
    shape = tuple(spec["input"])
    mods = collections.OrderedDict()
    layers = spec["layers"]
    for i, l in enumerate(layers):
        l = dict(l)
        t = l.pop("type")
        name = str(l.pop("name", i))

        def get(k, d=None):
            v = l.get(k, d)
            return classes if v == "classes" else v

        if t in ("conv2d", "conv1d"):
            two = t == "conv2d"
            pad = get("padding", 0)
            if pad == "same":
                pad = "same"
            elif two:
                pad = _pair(pad, 0)
            else:
                pad = _one(pad, 0)
            if two:
                m = nn.Conv2d(shape[0], get("out"), _pair(get("kernel"), 1),
                              stride=_pair(get("stride"), 1), padding=pad,
                              dilation=_pair(get("dilation"), 1), bias=get("bias", True))
            else:
                m = nn.Conv1d(shape[0], get("out"), _one(get("kernel"), 1),
                              stride=_one(get("stride"), 1), padding=pad,
                              dilation=_one(get("dilation"), 1), bias=get("bias", True))
        elif t in ("batchnorm", "batchnorm1d", "batchnorm2d"):
            cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            m = cls(shape[0], eps=get("eps", 1e-5), momentum=get("momentum", 0.1),
                    affine=get("affine", True))
        elif t in ("relu", "tanh", "sigmoid"):
            m = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[t]()
        elif t == "leaky_relu":
            m = nn.LeakyReLU(get("slope", 0.01))
        elif t == "elu":
            m = nn.ELU(get("alpha", 1.0))
        elif t in ("maxpool2d", "avgpool2d"):
            k = _pair(get("kernel"), 1)
            s = _pair(get("stride"), None) if get("stride") is not None else k
            p = _pair(get("padding"), 0)
            m = (nn.MaxPool2d if t == "maxpool2d" else nn.AvgPool2d)(k, s, p)
        elif t in ("maxpool1d", "avgpool1d"):
            k = _one(get("kernel"), 1)
            s = _one(get("stride"), k)
            p = _one(get("padding"), 0)
            m = (nn.MaxPool1d if t == "maxpool1d" else nn.AvgPool1d)(k, s, p)
        elif t in ("global_avgpool", "global_maxpool"):
            m = GlobalPool("avg" if t == "global_avgpool" else "max")
        elif t == "dropout":
            m = nn.Dropout(0.0 if no_dropout else get("p", 0.5))
        elif t == "to_sequence":
            m = ToSequence()
        elif t == "flatten":
            m = Flatten()
        elif t == "temporal_pool":
            m = TemporalPool(get("mode", "mean"))
        elif t in ("gru", "lstm"):
            cls = GRU if t == "gru" else LSTM
            m = cls(get("return", "sequence"), input_size=shape[-1], hidden_size=get("hidden"),
                    num_layers=get("layers", 1), bidirectional=get("bidirectional", False),
                    dropout=0.0 if no_dropout else get("dropout", 0.0), bias=get("bias", True))
        elif t in ("dense", "linear"):
            m = nn.Linear(shape[-1], get("out"), bias=get("bias", True))
        elif t == "softmax":
            if i != len(layers) - 1:
                raise ValueError("softmax must be the last layer")
            break
        else:
            raise ValueError("unknown layer type %s" % t)
        mods[name] = m
        m.eval()
        with torch.no_grad():
            shape = tuple(m(torch.zeros((2,) + shape)).shape[1:])
    return Twin(mods)


def load_mgc_model(path, no_dropout=False):
    """A twin with the weights and metadata of an mgc model file."""
    tensors, meta = read_safetensors(path)
    classes = json.loads(meta["classes"])
    model = build(meta["architecture"], len(classes), no_dropout)
    set_state(model, tensors)
    return model, meta


def set_state(model, tensors):
    """Load name -> array into the twin; every tensor must match."""
    sd = model.state_dict()
    want = {k for k in sd if not k.endswith("num_batches_tracked")}
    got = set(tensors)
    if want != got:
        raise ValueError("tensor sets differ: missing %s, unexpected %s"
                         % (sorted(want - got), sorted(got - want)))
    with torch.no_grad():
        for k in want:
            sd[k].copy_(torch.from_numpy(np.asarray(tensors[k], dtype=np.float32)))
