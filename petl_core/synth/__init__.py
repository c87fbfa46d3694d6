"""SynthMusic's synthesizer: seeded, offline rendering of short music clips with known labels.

Plain numpy/scipy, no system packages, no downloads. Three layers, each its own module:

* :mod:`petl_core.synth.sound` -- instruments (wavetables, Karplus-Strong pluck), drum kit, reverb, mixing;
* :mod:`petl_core.synth.harmony` -- a key's chord progression in time and its chord / bass / melody notes;
* :mod:`petl_core.synth.clips` -- one labelled clip per task: key, tempo, tagging, beats, chords.

The datasets built from it (splits, files, manifests) are :mod:`petl_core.datasets.synthmusic`.

Example:
    >>> import numpy as np
    >>> wav, label = generate_clip("tempo", np.random.default_rng([0, 1]), 16000, 1.0, target=120.0)
    >>> wav.shape, label
    ((16000,), '120.00')
"""
from petl_core.synth.clips import (
    BEAT_TEMPO_RANGE,
    CLIP_TASKS,
    TAGS,
    TEMPO_RANGE,
    chord_label,
    generate_beat_clip,
    generate_chord_clip,
    generate_clip,
)

__all__ = ["BEAT_TEMPO_RANGE", "CLIP_TASKS", "TAGS", "TEMPO_RANGE", "chord_label", "generate_beat_clip",
           "generate_chord_clip", "generate_clip"]
