"""The error every reader raises for an input that cannot be read as captions."""


class InputError(ValueError):
    """The input cannot be read as captions; the message names the file and the problem."""
