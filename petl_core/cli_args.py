"""Command-line arguments of the tools: range-checked types, deprecated spellings, quiet progress bars.

Every numeric option has a range; a value outside it is refused by argparse before anything is
built, with argparse's one ``error:`` line (exit status 2) naming the option and the range.
Option names use underscores, like the recipes' overrides (``--max_items``); an old spelling
(``--max-items``) keeps working and prints one deprecation line.

Adopting it in a tool:

    >>> parser = argparse.ArgumentParser(prog="tool")
    >>> _ = add_option(parser, "--max_items", old="--max-items", type=int_range(0), default=0)
    >>> _ = parser.add_argument("--perplexity", type=float_range(0, None, low_open=True), default=30.0)
    >>> parser.parse_args(["--max_items", "3"]).max_items
    3
    >>> int_range(1)("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: must be an integer >= 1, got '0'

``progress(iterable, desc=...)`` is tqdm on stderr that redraws at most every
:data:`NON_TTY_INTERVAL` seconds when stderr is not a terminal (a log file gets a few lines, not one
``\\r`` record per item).
"""
from __future__ import annotations

import argparse
import math
import sys

#: seconds between progress-bar redraws when stderr is redirected to a file or pipe
NON_TTY_INTERVAL = 30.0


def _describe(kind: str, low, high, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high}")
    return f"{kind} {' and '.join(parts)}" if parts else kind


def _ranged(cast, kind: str, low, high, low_open: bool, high_open: bool):
    description = _describe(kind, low, high, low_open, high_open)

    def parse(text: str):
        try:
            value = cast(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be {description} (finite), got {text!r}")
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}")
        return value

    return parse


def int_range(low: int | None = None, high: int | None = None):
    """argparse ``type=``: an integer in ``[low, high]`` (``None``: unbounded on that side).

    >>> int_range(0, 3)("3"), int_range(None, 3)("-7")
    (3, -7)
    """
    return _ranged(int, "an integer", low, high, False, False)


def float_range(low: float | None = None, high: float | None = None, low_open: bool = False,
                high_open: bool = False):
    """argparse ``type=``: a finite number in the range (``low_open``: ``> low`` instead of ``>=``).

    >>> float_range(0, 1)("0.5"), float_range(0, low_open=True)("1e-3")
    (0.5, 0.001)
    """
    return _ranged(float, "a number", low, high, low_open, high_open)


def device(text: str) -> str:
    """argparse ``type=``: ``cpu``, ``cuda`` or ``cuda:N`` that this machine has.

    >>> device("cpu")
    'cpu'
    """
    name, _, index = text.partition(":")
    if name not in ("cpu", "cuda") or (index and not index.isdigit()) or (name == "cpu" and index):
        raise argparse.ArgumentTypeError(f"must be cpu, cuda or cuda:N, got {text!r}")
    if name == "cuda":
        import torch

        count = torch.cuda.device_count()
        if int(index or 0) >= count:
            raise argparse.ArgumentTypeError(
                f"{text}: this machine has {count} CUDA device(s)" + ("; use cpu" if not count else
                                                                     f", cuda:0 to cuda:{count - 1}"))
    return text


def interpreter(text: str) -> str:
    """argparse ``type=``: a Python interpreter that exists (a path or a name on ``PATH``)."""
    import shutil

    if not shutil.which(text):
        raise argparse.ArgumentTypeError(f"{text}: no such interpreter (a path or a name on PATH)")
    return text


class _DeprecatedAlias(argparse.Action):
    """An old spelling of an option: one deprecation line, then the new option's action."""

    def __init__(self, option_strings, dest, new: str, target: argparse.Action, **kwargs):
        self.new, self.target = new, target
        super().__init__(option_strings, dest, nargs=target.nargs, type=target.type, choices=target.choices,
                         const=target.const, metavar=target.metavar, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"warning: {option_string} is deprecated, use {self.new} (the same option)", file=sys.stderr)
        self.target(parser, namespace, values, option_string)


def add_option(parser, name: str, *, old: str | list[str] | tuple = (), **kwargs) -> argparse.Action:
    """``parser.add_argument(name, **kwargs)`` plus ``old`` spellings that still work, with a
    deprecation line (hidden from ``--help``). Returns the new option's action."""
    action = parser.add_argument(name, **kwargs)
    olds = [old] if isinstance(old, str) else list(old)
    if olds:
        parser.add_argument(*olds, dest=action.dest, action=_DeprecatedAlias, new=name, target=action,
                            default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return action


def progress(iterable, **kwargs):
    """tqdm on stderr; redirected (not a terminal), it redraws every :data:`NON_TTY_INTERVAL` s at
    most, so a log file is not flooded with ``\\r`` records."""
    from tqdm import tqdm

    tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    kwargs.setdefault("mininterval", 0.1 if tty else NON_TTY_INTERVAL)
    return tqdm(iterable, file=sys.stderr, **kwargs)
