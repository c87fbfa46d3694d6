"""Install the PETL audio toolkit exactly as tested: ``pip install -r requirements.lock -e .``

``requirements.lock`` pins the whole dependency tree (the versions the test suite ran on); the
ranges below are what the code needs. Refresh the lock (then run the test suite) with::

    pip install uv && uv pip compile setup.py --extra test --universal --python-version 3.11 -o requirements.lock

Why each bound exists:
- torch / torchaudio **exact**: torchaudio's compiled ops must match torch's build exactly, and
  SpeechBrain imports torchaudio. 2.11.0 + 2.11.0 is the verified pair; torchaudio 2.11.1 does not
  load with torch 2.11.0 nor 2.12.1 (checked 2026-12-01), so a ``==2.11.*`` range breaks on a new
  machine. ``python tools/check_install.py`` checks the pair.
- speechbrain ``<1.2``: ``petl_core.brain`` overrides ``Brain`` internals (``fit_batch``,
  ``optimizers_step``, ``_wrap_distributed``) that minor releases change.
- transformers ``>=5.16,<6``: 5.16 stopped returning inner encoders' hidden states (the backbones
  iterate over the layers themselves) and renamed AST modules (5.9); 6.x may rename again.
- mir_eval ``>=0.8``: the key weighted-score conventions documented in ``petl_core.metrics``.
"""
from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "torch==2.11.0",
    "torchaudio==2.11.0",
    "speechbrain>=1.1.2,<1.2",
    "transformers>=5.16,<6",
    "hyperpyyaml>=1.2",
    "mir_eval>=0.8",
    # madmom 0.16.1 does not import on Python 3.11; madmom-onnx is the maintained fork that
    # builds from source and imports cleanly (same `madmom` package and evaluation API).
    "madmom-onnx>=0.17.dev0",
    "tqdm",
    "soundfile",
    "safetensors",
    "numpy",
    "scipy",
    # tables of results (tools/collect_results), metrics (petl_core/metrics), experiment
    # tracking (SpeechBrain's TensorboardLogger), the peft adapter format and the Hub
    "pandas",
    "scikit-learn",
    "tensorboard",
    "peft>=0.13",
    "huggingface_hub",
    # imported directly (not only through hyperpyyaml / transformers): petl_core/config.py,
    # tools/run_grid.py and count_params.py; the tools' plots (tsne, layer_sweep, benchmark, collect_results)
    "ruamel.yaml",
    "PyYAML",
    "matplotlib",
]

setup(
    name="petl-audio",
    version="0.1.0",
    description="Parameter-efficient transfer learning of audio and music foundation models",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["lobes", "lobes.*", "petl_modules", "petl_modules.*", "petl_core", "petl_core.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "test": ["pytest>=7", "pytest-xdist", "matplotlib", "wandb"],
        "plots": ["matplotlib"],
        "wandb": ["wandb"],
    },
)
