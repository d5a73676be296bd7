"""The registry of trainable systems: name -> :class:`~defocus_cli.training.template.TrainingSystem`.

Each system module registers its class with :func:`register_system` when imported; the
registry imports a module only when its system is asked for (the names are listed in
:data:`SYSTEM_MODULES`), so ``defocus train magnify`` does not build DeepLens. Registering a
name twice is an error, and an unknown name is a usage error that lists the known ones.

>>> from defocus_cli.training.systems import get_system, system_names
>>> "magnify" in system_names()
True
>>> get_system("magnify").task
'magnify'
"""

from __future__ import annotations

import difflib
import importlib
from typing import TypeVar

from defocus_cli.errors import UsageError
from defocus_cli.training.names import SYSTEM_MODULES
from defocus_cli.training.template import TrainingSystem

_SYSTEMS: dict[str, type[TrainingSystem]] = {}

S = TypeVar("S", bound=type[TrainingSystem])


def register_system(cls: S) -> S:
    """Class decorator: register ``cls`` under ``cls.name``; a duplicate name raises ValueError."""
    name = getattr(cls, "name", "")
    if not name:
        raise ValueError(f"{cls.__name__} has no system name")
    if name in _SYSTEMS and _SYSTEMS[name] is not cls:
        raise ValueError(f"training system {name!r} is registered twice")
    _SYSTEMS[name] = cls
    return cls


def system_names() -> list[str]:
    """Every system ``defocus train`` accepts, sorted."""
    return sorted(set(SYSTEM_MODULES) | set(_SYSTEMS))


def get_system(name: str) -> type[TrainingSystem]:
    """The class registered as ``name``, importing its module on first use."""
    if name not in _SYSTEMS and name in SYSTEM_MODULES:
        importlib.import_module(SYSTEM_MODULES[name])
    try:
        return _SYSTEMS[name]
    except KeyError:
        close = difflib.get_close_matches(name, system_names(), n=2)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        if name in SYSTEM_MODULES:
            raise UsageError(f"training system {name!r} is not available in this version{hint}") from None
        raise UsageError(f"unknown training system {name!r}{hint} (one of {', '.join(system_names())})") from None
