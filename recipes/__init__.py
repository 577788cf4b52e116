"""The shipped recipes, installed as ``sssle_bench.recipes`` (read with importlib.resources)."""
