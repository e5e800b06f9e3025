"""One TensorFlow environment for every training and every scoring of the model (issue 17).

A model trained on one machine of this kind differed from the model trained on another from
the same tree: DIET and the ResponseSelector were seeded, yet TensorFlow's CPU arithmetic was
not the same. Three things make it differ between machines (docs/nlu.md, "Same model on every
machine"):
- oneDNN's CPU-specific kernels (``TF_ENABLE_ONEDNN_OPTS``, on by default in TF 2.12): which
  kernel runs (AVX-512, AMX …) depends on the CPU, and with it the rounding;
- the thread pools (``TF_INTRA_OP_PARALLELISM_THREADS`` / ``TF_INTER_OP_PARALLELISM_THREADS``,
  read by Rasa's CLI; TensorFlow sizes them from the cores it sees otherwise): a sum split over
  more threads is added in another order;
- non-deterministic op implementations (``TF_DETERMINISTIC_OPS``).
``PINNED`` fixes all three (plus Python's hash seed, which orders sets the featurizers build).
``bot.model`` trains with it, ``bot.evaluate``/``tuibao gate`` score with it, ``bin/test``
exports it; ``bench/nlu_spread.py`` measures what each setting changes.
"""
from __future__ import annotations

import os
from typing import Dict, MutableMapping, Optional

PINNED: Dict[str, str] = {
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "TF_INTRA_OP_PARALLELISM_THREADS": "1",
    "TF_INTER_OP_PARALLELISM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "TF_DETERMINISTIC_OPS": "1",
    "PYTHONHASHSEED": "0",
}


def pinned_env(base: Optional[MutableMapping[str, str]] = None) -> Dict[str, str]:
    """``base`` (default: this process's environment) with the pinned TensorFlow settings."""
    return {**(os.environ if base is None else base), **PINNED}


def pin_this_process() -> None:
    """Pin the settings for TensorFlow loaded later in this process (before ``import tensorflow``
    for oneDNN; the thread pools are set here too, which TensorFlow allows only before its
    first op). PYTHONHASHSEED cannot change a running interpreter: it matters for training,
    which ``bot.model`` runs in a child process."""
    os.environ.update(PINNED)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran an op in this process: too late to resize
        pass
    tf.config.experimental.enable_op_determinism()


if __name__ == "__main__":  # `eval "$(python -m bot.determinism)"`: bin/test exports them
    print("\n".join(f"export {name}={value}" for name, value in PINNED.items()))
