"""Template stores: where enrolled references live."""
from edgesig.store.base import Template, TemplateStore
from edgesig.store.memory import MemoryStore

__all__ = ["Template", "TemplateStore", "MemoryStore"]
