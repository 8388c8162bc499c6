"""The project's own documented errors. Every error names the file, line, field or item at fault."""


class NeuronError(Exception):
    """Base class of all errors raised on purpose by :mod:`neuron`."""


class ConfigError(NeuronError, ValueError):
    """A parameter file or dictionary is invalid: unknown key, wrong type or impossible value."""


class DataError(NeuronError, ValueError):
    """A dataset file is missing, corrupt, truncated, empty, non-finite or has the wrong shape.

    The message always names the file (and the line or field where known).
    """


class SideInfoError(NeuronError, ValueError):
    """Side information (descriptions or embeddings) is missing, malformed or inconsistent.

    The message names the class, level and file.
    """


class BackendError(NeuronError, RuntimeError):
    """An LLM or text-encoder backend failed after its bounded retries."""
