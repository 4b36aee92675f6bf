"""Exceptions with messages meant for users (printed as one line by the CLI)."""


class TemcocoError(Exception):
    """A user-facing error: the message says what went wrong and what to do."""


class ClipError(TemcocoError):
    """One clip cannot be processed (bad file, no partner, ...). The job goes on without it."""


class StorageError(TemcocoError):
    """An input or output location cannot be read or written."""
