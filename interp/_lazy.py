"""Package attributes imported on first use (PEP 562), so ``interp --help`` starts without torch.

Every ``interp/<pkg>/__init__.py`` lists what it exports and where each name lives;
``from interp.sae import train_sae`` imports ``interp.sae.trainer`` (and torch) only then.
An exported name must not also be a submodule's name: importing the submodule would
replace the attribute with the module (why ``interp.hooks.capturing`` is not ``capture``).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, namespace: dict[str, Any],
                 exports: dict[str, list[str]]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for a package: ``exports`` maps submodule -> the names it provides."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # the next lookup is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__
