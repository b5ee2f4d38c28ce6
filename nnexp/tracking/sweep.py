"""Old dotted path of `nnexp.sweep.callback` (Hydra configs name its callback); kept for one
release."""

from nnexp.sweep.callback import MlflowSweepCallback

__all__ = ["MlflowSweepCallback"]
