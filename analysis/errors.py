"""Errors with actionable messages, importable without the model stack (the explorer and the CLI catch them)."""


class HyperLensError(Exception):
    """Any project error: its message says what went wrong and what to do; never shown as a traceback."""


class CheckpointError(HyperLensError, ValueError):
    """A checkpoint that cannot be loaded: the message says why and what to do."""
