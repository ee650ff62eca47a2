"""Template stores: where enrolled references live."""
from edgesig.store.base import Template, TemplateStore
from edgesig.store.encrypted import EncryptedStore
from edgesig.store.keys import EnvKey, KeyFile, Keyring, Passphrase, resolve_key
from edgesig.store.memory import MemoryStore

__all__ = ["Template", "TemplateStore", "MemoryStore", "EncryptedStore", "KeyFile", "Passphrase",
           "EnvKey", "Keyring", "resolve_key"]
