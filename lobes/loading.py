"""Resolving a backbone's configuration: hub id / local folder, exact real config, or tiny config.

Example:
    >>> from transformers import ASTConfig
    >>> resolve_config(ASTConfig, None, "tiny", {"hidden_size": 32}).hidden_size
    32
"""
from __future__ import annotations

import contextlib
import copy
import logging
import os

logger = logging.getLogger(__name__)

#: run-time settings of the speech-SSL and MusicFM backbones (their options, off for transfer)
RUNTIME_KEYS = ("layerdrop", "mask_time_prob")


def resolve_config(config_cls, pretrained: str | None, config, tiny: dict, real: dict | None = None):
    """``pretrained`` wins; else ``config`` = ``"tiny"``, ``"real"``/None (the published config), or a dict."""
    if pretrained:
        try:
            return config_cls.from_pretrained(pretrained)
        except OSError as exc:
            raise OSError(_not_loadable(config_cls.__name__, str(pretrained), exc)) from None
    if config == "tiny":
        return config_cls(**copy.deepcopy(tiny))
    if config in (None, "real"):
        return config_cls(**copy.deepcopy(real or {}))
    if isinstance(config, dict):
        return config_cls(**{**(real or {}), **config})
    raise ValueError(f"config must be 'tiny', 'real', a dict or None, got {config!r}")


def offline() -> bool:
    """Whether the Hugging Face hub is switched off (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``)."""
    flags = (os.environ.get(name, "").strip().lower() for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(flag in ("1", "true", "yes", "on") for flag in flags)


def _not_loadable(what: str, pretrained: str, exc: OSError) -> str:
    """Why ``pretrained`` (a local folder or a hub id) gave no configuration, and what to do.

    >>> print(_not_loadable("ASTConfig", "/nope/ast", OSError("...")))
    pretrained='/nope/ast': no such folder (give a local checkpoint folder holding config.json, or a hub id)
    """
    if pretrained.startswith(("/", "./", "../", "~")) and not os.path.exists(pretrained):
        return (f"pretrained={pretrained!r}: no such folder (give a local checkpoint folder holding config.json, or "
                "a hub id)")
    if offline():
        return (f"pretrained={pretrained!r}: offline (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set) and this hub id is "
                "not in the local cache: give a local folder (pretrained=/path/to/checkpoint, holding config.json) or "
                "run once online to cache it")
    return (f"cannot load a {what} from {pretrained!r}: give a local checkpoint folder or a hub id reachable online "
            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")


def reject_runtime_keys(config) -> None:
    """A ``config`` dict describes an architecture: run-time settings are backbone options."""
    for key in RUNTIME_KEYS:
        if isinstance(config, dict) and key in config:
            raise ValueError(f"config: {key!r} is a run-time setting of the backbone, not part of its "
                             f"architecture; give it as the backbone option {key}= instead")


def describe_config(config, hidden_size: int, num_layers: int) -> str:
    """``'the tiny test configuration (hidden 32, 2 layers)'``, ``'a custom ...'``, ``'the published ...'``."""
    size = f"(hidden {hidden_size}, {num_layers} layers)"
    if config == "tiny":
        return f"the tiny test configuration {size}"
    if isinstance(config, dict):
        return f"a custom configuration {size}"
    return f"the published real-size configuration {size}"


#: while a trained run is rebuilt (:func:`random_weights_noted`): the random-weight notes, not logged
_NOTED: list[str] | None = None


@contextlib.contextmanager
def random_weights_noted():
    """Within: backbones built with random weights log nothing; the list yielded receives their
    descriptions. A tool that rebuilds a trained run (then loads its checkpoint) logs one accurate
    line itself instead of "RANDOM weights".

    Example:
        >>> with random_weights_noted() as notes:
        ...     warn_random_weights("musicfm", "tiny", 32, 2)
        >>> notes
        ['musicfm: the tiny test configuration (hidden 32, 2 layers)']
    """
    global _NOTED
    outer, _NOTED = _NOTED, []
    try:
        yield _NOTED
    finally:
        _NOTED = outer


def warn_random_weights(name: str, config, hidden_size: int, num_layers: int) -> None:
    """One log line saying that a backbone has random weights, and which configuration.

    Example:
        >>> warn_random_weights("musicfm", {"hidden_size": 96}, 96, 2)  # logs (WARNING):
        ... # musicfm: RANDOM weights, a custom configuration (hidden 96, 2 layers); pass pretrained=...
    """
    if _NOTED is not None:
        _NOTED.append(f"{name}: {describe_config(config, hidden_size, num_layers)}")
        return
    logger.warning("%s: RANDOM weights, %s; pass pretrained=<hub id or local folder> for transfer learning",
                   name, describe_config(config, hidden_size, num_layers))
