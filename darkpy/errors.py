"""Every expected failure raises a subclass of DarkpyError with a message a user can act on.

The CLI prints the message and exits 2; a traceback from the CLI is always a bug.
"""


class DarkpyError(Exception):
    """Base class of darkpy's user-facing errors."""


class ConfigError(DarkpyError):
    """A cfg/yaml network description is malformed (message names file:line and key)."""


class ShapeMismatchError(ConfigError):
    """A layer's inputs do not fit together. `reason` says how in a few words; the Network
    turns it into a message naming the layers involved and their shapes."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class WeightsError(DarkpyError):
    """A weights file does not match its network or is damaged."""


class CheckpointError(DarkpyError):
    """A third-party checkpoint cannot be read safely or has an unexpected layout."""


class InputError(DarkpyError):
    """An input image, volume or tensor cannot be read or has the wrong shape."""


class ExportError(DarkpyError):
    """A network cannot be written in another format (a layer with no exact equivalent)."""
