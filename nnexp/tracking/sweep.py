"""Old dotted path of `nnexp.sweeps.callback` (Hydra configs name its callback); kept for one
release."""

from nnexp.sweeps.callback import MlflowSweepCallback

__all__ = ["MlflowSweepCallback"]
