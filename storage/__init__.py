"""Lowband's storage: one SQLite file, every personal field encrypted.

The public surface is small: `open_store` gives a `Store` (connection, cipher,
repositories); `keyfile` creates and loads keys; `migrations` shapes the schema.
Nothing here imports the rest of Lowband.
"""

from storage.crypto import FieldCipher, FieldIntegrityError, KeyRing
from storage.errors import StorageError, WrongKeyError
from storage.keyfile import KeyFileError, create_key_file, load_key_file
from storage.store import Store, open_store

__all__ = [
    "FieldCipher",
    "FieldIntegrityError",
    "KeyFileError",
    "KeyRing",
    "StorageError",
    "Store",
    "WrongKeyError",
    "create_key_file",
    "load_key_file",
    "open_store",
]
