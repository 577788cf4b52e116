"""Dataset generation: recipe -> Scaper foregrounds over SONYC backgrounds -> ground truth.

- :mod:`.scene`: one mixture's foreground scene, sampled and rendered once with Scaper.
- :mod:`.mix`: the background conditions, full-scale protection and per-source levels.
- :mod:`.render`: one mixture end to end, written atomically.
- :mod:`.runner`: the whole dataset (parallel, sharded, resumable) and its manifest.
- :mod:`.check`: ``regenerate`` and ``verify``.
"""
