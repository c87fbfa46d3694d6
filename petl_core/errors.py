"""The errors a user can fix: each one is a line of text naming the file, key or value, and what to do.

Library code raises them; one entry point (:func:`petl_core.recipe.recipe_main`) prints
``error: <message>`` and exits with :attr:`PetlError.exit_code` (no traceback). Errors raised by
the parts below the core that are the user's to fix (:class:`lobes.audio.AudioError`,
:class:`petl_core.manifest.DatasetError` / ``ManifestError``) are handled the same way there.

Example:
    >>> try:
    ...     raise ConfigError("batch_size must be a positive integer, got 0")
    ... except PetlError as exc:
    ...     print(f"error: {exc}", exc.exit_code)
    error: batch_size must be a positive integer, got 0 2
"""
from __future__ import annotations


class PetlError(Exception):
    """Base class: a problem the user fixes (the message says how); exit code 2."""

    exit_code = 2


class ConfigError(PetlError, ValueError):
    """A hyperparameter or command-line problem; the message names the key and what is valid."""


class DataError(PetlError, ValueError):
    """Data a run cannot use (a manifest, a few-shot subset, files another node cannot see)."""


class CheckpointMismatchError(PetlError, ValueError):
    """A checkpoint saved for another backbone, method or options."""


class CheckpointSaveError(PetlError, OSError):
    """A checkpoint could not be written (a full disk, no permission); the last complete one stays."""


class UnusedParametersError(PetlError, ValueError):
    """Trainable tensors that get no gradient, under DDP without ``find_unused_parameters``."""


class NonFiniteLossError(PetlError, RuntimeError):
    """Training stopped: too many non-finite losses in a row."""


class RunStopped(PetlError, RuntimeError):
    """The run ended early (results.json written with its ``status``); exit code 3."""

    exit_code = 3
