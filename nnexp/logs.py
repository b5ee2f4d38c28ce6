"""Old dotted path of `nnexp.experiment.logs` (logging configs name its classes): one release."""

from nnexp.experiment.logs import BelowLevel, ConsoleHandler

__all__ = ["BelowLevel", "ConsoleHandler"]
