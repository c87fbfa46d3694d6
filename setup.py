"""Install the PETL audio toolkit: ``pip install -e .`` (add ``[test]`` for the test suite)."""
from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "torch==2.11.*",
    "torchaudio==2.11.*",
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
]

setup(
    name="petl-audio",
    version="0.1.0",
    description="Parameter-efficient transfer learning of audio and music foundation models",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["lobes", "lobes.*", "petl_modules", "petl_modules.*", "petl_core", "petl_core.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "test": ["pytest>=7", "peft>=0.13", "matplotlib", "scikit-learn"],
        "plots": ["matplotlib", "scikit-learn"],
    },
)
