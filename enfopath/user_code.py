"""Which code a study file may run: the policy for the factories it names.

A study file that names a factory (``flow.plugin.factory``, ``flow.plugin.decoder``) runs that
code when the network is built, as a Snakefile runs its own code. The factory is meant to be the
user's model code, so the policy below holds a study file to that, and is enforced before any of
the named code is called (:func:`check_module_name` before it is imported, :func:`check_factory`
after import, before the call):

1. The import path has the form ``package.module:attribute`` (the schema's pattern).
2. Never a module of the standard library or a builtin one (``os:system``,
   ``subprocess:run``, ``builtins:exec``): refused by name, before anything is imported. A user
   module that shadows a standard-library name (``code.py``) must be renamed.
3. A class must be a subclass of the expected base (``torch.nn.Module``): building a network is
   constructing one, from any package (``torchcfm.models.unet:UNetModel``).
4. Any other factory must be a plain Python function (or a method of such a class), defined in
   the user's own code: a module that lives outside the Python installation and its
   site-packages (a folder on PYTHONPATH, the working directory, an editable install), or in an
   installed package named in ``flow.plugin.trusted_packages``. Where it is *defined* counts, not
   where it is imported from: ``mymodule:run`` after ``from subprocess import run`` is refused.
   The workflow's own package is never a factory of functions (its writers and fetchers are not
   models); its network classes are.
5. Builtin functions, callable objects, partials and anything else are refused.

This module imports nothing heavy (no torch): the config check at DAG build uses rule 2.
"""

from __future__ import annotations

import inspect
import site
import sys
import sysconfig
from pathlib import Path
from typing import Any

from enfopath.io import ExplainedError

OWN_PACKAGE = "enfopath"
"""The workflow's own package: its functions are tools, never model factories (rule 4)."""


class FactoryRefused(ExplainedError, ValueError):
    """A study file names code the policy of this module does not let it run."""


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def standard_library_refusal(path: str) -> str | None:
    """Why an import path into the standard library or a builtin module is refused (rule 2),
    judged by name without importing anything; None for any other path."""
    top = _top(path.partition(":")[0])
    if top not in sys.stdlib_module_names and top not in sys.builtin_module_names:
        return None
    return (
        f"{path!r} names the standard library module {top!r}; a factory is your model code (a "
        "study file naming a factory runs it, as a Snakefile does), never a standard-library "
        "function (rename a module of yours that shadows that name)"
    )


def check_module_name(path: str, key: str) -> None:
    """Raise :class:`FactoryRefused` naming ``key`` for a path :func:`standard_library_refusal`
    refuses."""
    why = standard_library_refusal(path)
    if why is not None:
        raise FactoryRefused(f"{key}: {why}")


def _installation_roots() -> list[Path]:
    """Where installed Python code lives: the interpreter's and the environment's library
    folders and every site-packages folder."""
    roots = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    paths = sysconfig.get_paths()
    roots.update(Path(paths[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib"))
    roots.update(Path(p) for p in site.getsitepackages())
    roots.add(Path(site.getusersitepackages()))
    return [r.resolve() for r in roots]


def _is_installed(file: str | None) -> bool:
    """Whether the module file ``file`` belongs to the Python installation or a site-packages
    folder (None: a builtin or frozen module, which counts as installed)."""
    if file is None:
        return True
    where = Path(file).resolve()
    if any(part in ("site-packages", "dist-packages") for part in where.parts):
        return True
    return any(where.is_relative_to(root) for root in _installation_roots())


def _defining_module(obj: Any) -> str | None:
    """The module where a Python function or method is defined (None: not one)."""
    func = obj.__func__ if inspect.ismethod(obj) else obj
    if not inspect.isfunction(func):
        return None
    return func.__module__


def check_factory(obj: Any, path: str, key: str, base: type, trusted: tuple[str, ...] = ()) -> None:
    """Refuse ``obj`` (what ``path`` resolved to) unless rules 3–5 of the module docstring let
    a study file call it; ``base`` is the class a factory class must derive from, ``trusted``
    the installed packages whose functions may be called (``flow.plugin.trusted_packages``)."""
    if inspect.isclass(obj):
        if not issubclass(obj, base):
            raise FactoryRefused(
                f"{key}: {path} is the class {obj.__module__}.{obj.__qualname__}, not a "
                f"subclass of {base.__module__}.{base.__qualname__}"
            )
        return
    module = _defining_module(obj)
    if module is None:
        raise FactoryRefused(
            f"{key}: {path} is a {type(obj).__name__}, not a Python function or a class: a "
            "factory is a function of your model code or a network class"
        )
    check_module_name(f"{module}:", key)
    top = _top(module)
    if top == OWN_PACKAGE:
        raise FactoryRefused(
            f"{key}: {path} is a function of the workflow's own package ({module}); name a "
            "network class of it, or a function of your own code"
        )
    if top in trusted:
        return
    if _is_installed(getattr(sys.modules.get(module), "__file__", None)):
        raise FactoryRefused(
            f"{key}: {path} is defined in {module}, an installed package, not in your own code "
            f"(a folder on PYTHONPATH); to let this study call it, name the package in "
            f"flow.plugin.trusted_packages (e.g. [{top}])"
        )
