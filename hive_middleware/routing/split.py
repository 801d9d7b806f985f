"""The by-run split shared by router training and ``hive eval route``.

A run is held out (never trained or calibrated on) by a hash of its run id, so
the split is deterministic, independent of file order, and the same on every
machine. Router training owns the rule; the routing evaluation imports it so
both agree on which runs are unseen.
"""

from __future__ import annotations

import hashlib

__all__ = ["HOLDOUT_FOLDS", "is_held_out"]

HOLDOUT_FOLDS = 5
"""One run in this many is held out."""


def is_held_out(run_id: str, folds: int = HOLDOUT_FOLDS) -> bool:
    """Whether a run belongs to the evaluation side of the by-run split.

    Deterministic and independent of file order: the first 8 bytes of
    ``sha256(run_id)`` modulo ``folds`` equal 0 (about one run in ``folds``).
    """
    digest = hashlib.sha256(run_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % folds == 0
