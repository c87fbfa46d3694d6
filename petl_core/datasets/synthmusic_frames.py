"""SynthMusic's frame-level tasks (``beat``, ``chord``): the entry points the recipes import.

They are :mod:`petl_core.datasets.synthmusic` with the task set; see there.
"""
from petl_core.datasets.synthmusic import prepare_beat, prepare_chord

__all__ = ["prepare_beat", "prepare_chord"]
