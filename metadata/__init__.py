"""Static facts the package needs (class vocabulary, source-archive checksums).

Installed as ``sssle_bench.metadata`` and read with :mod:`importlib.resources`.
"""
