"""Old dotted path of `nnexp.run.logs` (logging configs name its classes); kept for one release."""

from nnexp.run.logs import BelowLevel, ConsoleHandler

__all__ = ["BelowLevel", "ConsoleHandler"]
