"""The one compatibility shim of the project: import Scaper under NumPy 2.

Scaper 1.6.5 uses ``np.Inf``, an alias that NumPy 2 removed (``np.inf`` is the
same value). Rather than pin NumPy below 2 we restore that single alias, only
when it is missing, right before Scaper is imported. Every module that needs
Scaper calls :func:`import_scaper` (lazily, inside the function that uses it),
so ``sssle-bench --help`` never pays Scaper's ~1-2 s import cost.
"""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np


def import_scaper() -> ModuleType:
    """Return the ``scaper`` module, importable under NumPy >= 2."""
    if not hasattr(np, "Inf"):
        np.Inf = np.inf  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        # jams / mir_eval import pkg_resources and other deprecated APIs.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        import scaper
    return scaper


def import_soundata_download_utils() -> ModuleType:
    """Return ``soundata.download_utils``, ready to fetch.

    soundata 1.0.1 calls ``urllib.request.urlretrieve`` after only ``import
    urllib``; that works only if some other module happened to import
    ``urllib.request`` first. Importing it here makes the download path work
    in a fresh process.
    """
    import urllib.request  # noqa: F401

    from soundata import download_utils

    return download_utils
