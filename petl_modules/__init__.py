"""Parameter-efficient transfer learning methods for ``lobes`` backbones.

One file per method, each registering itself in :data:`METHODS` (see :mod:`petl_modules.base`);
importing this package imports every method module once::

    state = apply_petl(backbone, "lora", {"rank": 8, "targets": ["q", "v"], "scale": 2.0})
    state = apply_petl(backbone, "adapter+lora", {"adapter": {...}, "lora": {...}})
    merge(backbone); unmerge(backbone)
    save_adapter(folder, model); load_adapter(folder, model, name="b"); set_active_adapter(model, "b")
    count_parameters(model) -> {"trainable", "total", "head"}

Example:
    >>> sorted(METHODS)[:3]
    ['adapter', 'bitfit', 'conformer_adapter']
"""
from petl_modules import (  # noqa: F401  (each method module registers its method)
    adapter, baselines, bitfit, conformer_adapter, convpass, lora, moa, prefix, prompt, ssf,
)
from petl_modules.base import METHODS, Method, PetlState, get_state, register_method, trainable_parameters
from petl_modules.common import PetlError
from petl_modules.counting import count_parameters, format_counts, print_trainable_parameters
from petl_modules.io import (
    active_adapter, add_adapter, list_adapters, load_adapter, read_adapter_config, save_adapter, set_active_adapter,
)
from petl_modules.merge import is_merged, merge, unmerge
from petl_modules.registry import apply_petl, validate

__all__ = [
    "METHODS", "Method", "PetlError", "PetlState", "active_adapter", "add_adapter", "apply_petl",
    "count_parameters", "format_counts", "get_state", "is_merged", "list_adapters", "load_adapter", "merge",
    "print_trainable_parameters", "read_adapter_config", "register_method", "save_adapter", "set_active_adapter",
    "trainable_parameters", "unmerge", "validate",
]
