"""Measurements that need a fresh process (peak memory): each ``spec`` runs as
``python -m tools.benchmark <measurement> <the same options> --_worker <spec>`` (the options as parsed,
in their current spelling: ``args.worker_argv``) and prints one
tagged json line, read back here.

Example:
    >>> worker_result({"peak_mem_mb": 1.0})
    'BENCHMARK_WORKER {"peak_mem_mb": 1.0}'
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

logger = logging.getLogger("benchmark")

TAG = "BENCHMARK_WORKER "
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def worker_result(result: dict) -> str:
    return TAG + json.dumps(result)


def worker_command(args, measurement: str, spec: str) -> list[str]:
    return [sys.executable, "-m", "tools.benchmark", measurement, *args.worker_argv, "--_worker", spec]


def run_workers(args, measurement: str, specs: list[str]) -> dict[str, dict]:
    """Run one worker per spec (``args.memory_jobs`` at a time); a failed one gives ``{}`` and a warning."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    results, pending, running = {}, list(specs), []
    while pending or running:
        while pending and len(running) < max(1, getattr(args, "memory_jobs", 1)):
            spec = pending.pop(0)
            logger.info("%s: %s (subprocess)", measurement, spec)
            running.append((spec, subprocess.Popen(worker_command(args, measurement, spec), cwd=ROOT, env=env,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        spec, proc = running.pop(0)
        stdout, stderr = proc.communicate()
        found = [line[len(TAG):] for line in stdout.splitlines() if line.startswith(TAG)]
        if found:
            results[spec] = json.loads(found[-1])
        else:
            tail = (stderr or stdout).strip().splitlines()[-3:]
            logger.warning("%s %s failed (exit %d): %s", measurement, spec, proc.returncode, " | ".join(tail))
            results[spec] = {}
    return results
