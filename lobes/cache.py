"""Caching the output of a backbone's frozen stages, so later epochs skip them.

When everything below some stage is frozen (probing: the whole backbone; LoRA/adapters: the
front end and embeddings), that stage's input depends only on the clip (backbones are batch
independent, see :mod:`lobes.backbone`), whichever batch computed it. Given a key per clip
(the caller's job: it must name the backbone, the clip, its crop and any augmentation), the
backbone stores that input once and later starts from it.

Keys are the caller's; :func:`cache_entry_keys` appends what the entry holds (the backbone's
stage, pooled layers) and the precision it was computed in (autocast's dtype, else the
parameters'), so that runs in another precision compute their own entries instead of reading
tensors of another dtype and rounding. Entries are stored without
padding (``[valid_tokens, hidden]``) in memory or, with ``folder``, as one file per key
(``torch.save``; loaded with ``weights_only=True``). A folder outlives the run, so it records the
``identity`` it was written for (e.g. the backbone's build arguments) in ``identity.json`` and
refuses another one: features of another backbone are never read back as this one's. Build
arguments that change no stored value are left out of it (:data:`ENTRY_NEUTRAL_OPTIONS`).

Example:
    >>> import torch
    >>> from lobes import build_backbone
    >>> bb = build_backbone("hubert", config="tiny").requires_grad_(False)
    >>> bb.feature_cache = FeatureCache()
    >>> wav = torch.randn(2, 16000)
    >>> a = bb(wav, cache_keys=["clip1", "clip2"]).hidden_states[-1]
    >>> b = bb(wav, cache_keys=["clip1", "clip2"]).hidden_states[-1]  # from the cache
    >>> torch.allclose(a, b, atol=1e-6), bb.feature_cache.hits
    (True, 2)
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile

import torch


#: backbone build arguments that change no cache entry: ``gradient_checkpointing`` (same values)
#: and ``pooling`` (the pooled entries' keys name it)
ENTRY_NEUTRAL_OPTIONS = ("gradient_checkpointing", "pooling")


def precision_tag(module: torch.nn.Module, device: torch.device) -> str:
    """The dtype ``module`` computes in on ``device``: autocast's when enabled, else its parameters'.

    Example:
        >>> import torch
        >>> with torch.autocast("cpu", dtype=torch.bfloat16):
        ...     precision_tag(torch.nn.Linear(1, 1), torch.device("cpu"))
        'bfloat16'
    """
    if torch.is_autocast_enabled(device.type):
        dtype = torch.get_autocast_dtype(device.type)
    else:
        dtype = next((p.dtype for p in module.parameters()), torch.float32)
    return str(dtype).removeprefix("torch.")


def cache_entry_keys(keys: list[str], what: str, module: torch.nn.Module, device: torch.device) -> list[str]:
    """``key@what@precision`` for each clip key (see the module docstring)."""
    tag = precision_tag(module, device)
    return [f"{key}@{what}@{tag}" for key in keys]


class FeatureCache:
    """Key → tensor store (``[tokens, hidden]`` or ``[hidden]``), in memory or in a folder."""

    def __init__(self, folder: str | None = None, identity: dict | None = None) -> None:
        self.folder = folder
        self._memory: dict[str, torch.Tensor] = {}
        self.hits = 0
        self.misses = 0
        if folder:
            os.makedirs(folder, exist_ok=True)
            if identity is not None:
                identity = {k: v for k, v in identity.items() if k not in ENTRY_NEUTRAL_OPTIONS}
                self._claim(json.loads(json.dumps(identity, sort_keys=True, default=str)))

    def _claim(self, identity: dict) -> None:
        path = os.path.join(self.folder, "identity.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                written = json.load(f)
            if written != identity:
                differ = sorted(k for k in set(written) | set(identity) if written.get(k) != identity.get(k))
                raise ValueError(f"feature cache {self.folder} holds features of another configuration "
                                 f"({', '.join(differ)} differ: {[written.get(k) for k in differ]} there, "
                                 f"{[identity.get(k) for k in differ]} here); give another feature_cache folder")
            return
        tmp = _temporary_file(self.folder)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(identity, f, indent=1, sort_keys=True)
        try:
            os.link(tmp, path)  # exclusive: of two writers (other processes, other nodes), the first claims
        except FileExistsError:
            os.remove(tmp)
            return self._claim(identity)  # another writer was first: compare with what it wrote
        os.remove(tmp)

    def _path(self, key: str) -> str:
        return os.path.join(self.folder, hashlib.sha1(key.encode()).hexdigest() + ".pt")

    def get(self, key: str) -> torch.Tensor | None:
        if not self.folder:
            return self._memory.get(key)
        path = self._path(key)
        if not os.path.exists(path):
            return None
        return torch.load(path, map_location="cpu", weights_only=True)

    def put(self, key: str, x: torch.Tensor) -> None:
        x = x.detach().to("cpu", copy=True)
        if self.folder:
            path = self._path(key)
            tmp = _temporary_file(self.folder)
            torch.save(x, tmp)
            os.replace(tmp, path)  # writers of one key (several nodes) write equal values: the last one stays
        else:
            self._memory[key] = x

    def __len__(self) -> int:
        if self.folder:
            return sum(name.endswith(".pt") for name in os.listdir(self.folder))
        return len(self._memory)

    def lookup(self, keys: list[str], device) -> tuple[torch.Tensor, torch.Tensor] | None:
        """A padded batch ``(x [B, N, D], mask [B, N])`` if every key is cached (else None)."""
        items = [self.get(k) for k in keys]
        if any(item is None for item in items):
            self.misses += len(keys)
            return None
        self.hits += len(keys)
        longest = max(item.shape[0] for item in items)
        x = items[0].new_zeros(len(items), longest, items[0].shape[-1])
        mask = torch.zeros(len(items), longest, dtype=torch.bool)
        for i, item in enumerate(items):
            x[i, : item.shape[0]] = item
            mask[i, : item.shape[0]] = True
        return x.to(device), mask.to(device)

    def store(self, keys: list[str], x: torch.Tensor, mask: torch.Tensor) -> None:
        """Store each row of a padded batch without its padding (one copy to the host per batch)."""
        x, lengths = x.detach().cpu(), mask.sum(1).tolist()
        for key, row, n in zip(keys, x, lengths):
            self.put(key, row[:n])


def _temporary_file(folder: str) -> str:
    """A new, uniquely named file in ``folder`` (unique across processes and nodes sharing it)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="tmp-", suffix=".part")  # torch.save needs a stem
    os.close(fd)
    return tmp
