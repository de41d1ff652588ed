"""Errors with actionable messages, importable without the model stack (the explorer catches them)."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: the message says why and what to do."""
