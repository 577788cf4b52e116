"""Source datasets: UrbanSound8K foregrounds and SONYC-Backgrounds city noise.

Both live side by side in one *data home*: ``DATA_HOME/UrbanSound8K/`` and
``DATA_HOME/SONYC-Backgrounds/``. The synthetic stand-ins write the same two
layouts, so one set of loaders reads real and synthetic data alike.
"""

from .common import DATA_HOME_ENV, class_table, resolve_data_home, source_archive_facts

__all__ = ["DATA_HOME_ENV", "class_table", "resolve_data_home", "source_archive_facts"]
