"""sssle-bench: a reproducible benchmark for source-specific sound level estimation."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sssle-bench")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
