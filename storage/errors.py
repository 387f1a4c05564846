"""Errors that storage raises; each carries a message fit to show an admin as one line."""


class StorageError(Exception):
    """Base class: the message is safe to print (no names, numbers or health data)."""


class WrongKeyError(StorageError):
    """The key file does not belong to this database."""


class NotFound(StorageError):
    """A record asked for by id does not exist."""


class OutsideTransaction(RuntimeError):
    """A repository was asked to write outside a transaction: a programming error.

    Not a StorageError on purpose: nothing an admin typed causes it, so it must not be
    shown as a friendly one-line refusal and then forgotten."""
