"""Real recordings, which have no isolated sources: measure each source's level in any
recording with a trained method (:mod:`.measure`), and check a method without ground
truth (:mod:`.audit`). :mod:`.stream` reads a recording of any rate, channel count and
length clip by clip, in constant memory, at the model's rate."""
