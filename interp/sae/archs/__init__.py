"""The SAE architectures, one module each; importing this package registers every one of them.

Each module defines an :class:`~interp.sae.base.SAE` subclass decorated with
``@register("name")``, its config class (its hyper-parameters as fields) and the
class attributes the rest of the package reads (``needs_k``, ``saelens_arch``,
``loads_saelens``). Every module in this folder is imported here, so a new
architecture is a new module in this folder plus its tests; nothing else changes.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
