"""Old dotted path of `nnexp.config.preflight` (Hydra configs name its callback); kept for one
release."""

from nnexp.config.preflight import Preflight

__all__ = ["Preflight"]
