"""The ``sup-sep`` estimator: weak-sep's separators trained with *strong* supervision.

The same U-Nets (``separator_arch``, ``unet_*``) and the same level read-out from masked
spectrograms as ``weak-sep``, trained on the isolated sources a dataset saves
(``generate --save-sources``) with the original's supervised loss
(``cdsd/train_fully_supervised_separator.py`` with ``separation_loss``,
``cdsd/losses.py`` l. 238-288, configs ``..._separator_supervised_lr1en4.json``): for
each class, the L1 distance between the isolated source's window-scaled magnitude and
the masked mixture's, over non-silent frames, divided by their count times the bins,
weighed per frame by the inverse class prior (``class_prior_weighting``: 1/p where the
class sounds, 1/(1-p) where not, p its share of the training frames), summed over
classes, averaged over the batch. It is the ceiling of mask separation for a network
and the capacity gate of ``weak-sep`` (issue 23).

One model per background condition, like weak-sep; each epoch is checkpointed under
``workdir/conditions/{condition}`` and a rerun resumes; the best validation epoch is
kept (early stopping after ``patience`` epochs without a lower validation loss). With
``warm_start`` (the ``cpu`` preset: ``"none"``, as weak-sep's), that condition's model
trains first and every other condition's separator starts from its best weights: from
scratch, the ``bg-20`` separator of the 16-channel network sits at a silent siren mask
(results/learning-curve/, ``experiments/tools/probe_sup_sep.py``).

The package in the order the data flows, each module importing only from those before
it: ``config.py`` (presets, fields) -> ``losses.py`` (pure functions of tensors) ->
``estimator.py`` (``SupSep``: the clips in memory, training, checkpoints, prediction).
"""
