"""Cost of the toolkit, measured side by side in one run: one measurement per module.

* :mod:`tools.benchmark.methods`: training step, peak memory and inference of each PETL method vs
  full fine-tuning and the plain backbone (with :mod:`~tools.benchmark.extras`,
  :mod:`~tools.benchmark.eval_memory` and :mod:`~tools.benchmark.pipeline` as options);
* :mod:`tools.benchmark.peers`: LoRA with the toolkit vs transformers + peft;
* :mod:`tools.benchmark.checkpointing`: activation checkpointing, memory and time with vs without.

Example:
    python -m tools.benchmark methods --backbone ast --methods ft,lora --quick --out /tmp/bench
    python -m tools.benchmark peers --threads 1 --out /tmp/peers
"""
from tools.benchmark.cli import main, parse_args

__all__ = ["main", "parse_args"]
