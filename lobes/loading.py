"""Resolving a backbone's configuration: hub id / local folder, exact real config, or tiny config.

Example:
    >>> from transformers import ASTConfig
    >>> resolve_config(ASTConfig, None, "tiny", {"hidden_size": 32}).hidden_size
    32
"""
from __future__ import annotations

import copy
import logging
import warnings

logger = logging.getLogger(__name__)


def resolve_config(config_cls, pretrained: str | None, config, tiny: dict, real: dict | None = None):
    """``pretrained`` wins; else ``config`` = ``"tiny"``, ``"real"``/None (the published config), or a dict."""
    if pretrained:
        try:
            return config_cls.from_pretrained(pretrained)
        except OSError as exc:
            raise OSError(
                f"cannot load a {config_cls.__name__} from {pretrained!r}: give a local checkpoint folder "
                f"or a hub id reachable online ({str(exc).splitlines()[0]})"
            ) from None
    if config == "tiny":
        return config_cls(**copy.deepcopy(tiny))
    if config in (None, "real"):
        return config_cls(**copy.deepcopy(real or {}))
    if isinstance(config, dict):
        return config_cls(**{**(real or {}), **config})
    raise ValueError(f"config must be 'tiny', 'real', a dict or None, got {config!r}")


def warn_random_weights(name: str, config) -> None:
    """Say loudly that a backbone has random weights (offline use, tests)."""
    kind = "tiny" if config == "tiny" else "real-size"
    message = (
        f"{name}: no pretrained weights given, using a {kind} configuration with RANDOM weights. "
        "Pass pretrained=<hub id or local folder> for transfer learning."
    )
    logger.warning(message)
    warnings.warn(message, stacklevel=3)
