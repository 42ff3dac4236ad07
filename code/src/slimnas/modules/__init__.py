"""Building blocks for model YAMLs, looked up through a registry filled by ``@register_module``."""

from . import blocks  # noqa: F401  (registers the built-in blocks)
from .layers import create_act, make_divisible
from .registry import ModuleSpec, get_module, list_modules, register_module

__all__ = ["ModuleSpec", "create_act", "get_module", "list_modules", "make_divisible", "register_module"]
