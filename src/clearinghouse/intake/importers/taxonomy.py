"""Scanner taxonomies mapped to ours: ``data/taxonomy.json``, loaded once and checked on load.

garak tags its probes with the OWASP Top 10 for LLM Applications of 2023 (``owasp:llm01``..);
reports carry the 2025 ids (``LLM01:2025``). The mapping is data, versioned, so it can be reviewed
and changed without reading code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from clearinghouse.intake.schema import ThreatType

TAXONOMY_VERSION = 1


@dataclass(frozen=True, slots=True)
class OwaspLabel:
    """A 2025 OWASP id, its title, and the 2023 tag it came from ("" when not from a tag)."""

    id_2025: str
    title: str
    from_2023: str = ""

    def describe(self) -> str:
        source = f" (from {self.from_2023} of the 2023 list)" if self.from_2023 else ""
        return f"{self.id_2025} {self.title}{source}"


@dataclass(frozen=True, slots=True)
class Taxonomy:
    owasp_2025: dict[str, str]
    owasp_2023_to_2025: dict[str, tuple[str, ...]]
    owasp_2025_threat_type: dict[str, str]
    garak_module_threat_type: dict[str, str]
    garak_module_owasp_2023: dict[str, tuple[str, ...]]
    garak_module_owasp_2025_extra: dict[str, tuple[str, ...]]

    def owasp_labels(self, tags_2023: tuple[str, ...], module: str = "") -> tuple[OwaspLabel, ...]:
        """2025 labels for garak's 2023 tags (unknown tags are ignored), plus a module's extras."""
        labels: dict[str, OwaspLabel] = {}
        for tag in tags_2023:
            for id_2025 in self.owasp_2023_to_2025.get(tag.lower(), ()):
                labels.setdefault(id_2025, OwaspLabel(id_2025, self.owasp_2025[id_2025], tag))
        for id_2025 in self.garak_module_owasp_2025_extra.get(module, ()):
            labels.setdefault(id_2025, OwaspLabel(id_2025, self.owasp_2025[id_2025]))
        return tuple(sorted(labels.values(), key=lambda label: label.id_2025))

    def garak_threat_type(self, module: str, labels: tuple[OwaspLabel, ...]) -> str | None:
        """The probe module's threat type; else the one the OWASP labels agree on; else None."""
        if module in self.garak_module_threat_type:
            return self.garak_module_threat_type[module]
        kinds = {self.owasp_2025_threat_type.get(label.id_2025) for label in labels}
        return kinds.pop() if len(kinds) == 1 else None


def _str_map(data: object, name: str) -> dict[str, str]:
    if not isinstance(data, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in data.items()
    ):
        raise ValueError(f"taxonomy.json: {name} must map strings to strings")
    return dict(data)


def _list_map(data: object, name: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(data, dict):
        raise ValueError(f"taxonomy.json: {name} must be an object")
    result: dict[str, tuple[str, ...]] = {}
    for key, value in data.items():
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"taxonomy.json: {name}.{key} must be a list of strings")
        result[str(key)] = tuple(value)
    return result


def parse_taxonomy(text: str) -> Taxonomy:
    """Parse and check the mapping file. Raises ValueError naming the first problem."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("version") != TAXONOMY_VERSION:
        raise ValueError(f"taxonomy.json: expected version {TAXONOMY_VERSION}")
    remap = data.get("owasp_2023_to_2025")
    if not isinstance(remap, dict):
        raise ValueError("taxonomy.json: owasp_2023_to_2025 must be an object")
    taxonomy = Taxonomy(
        owasp_2025=_str_map(data.get("owasp_2025"), "owasp_2025"),
        owasp_2023_to_2025=_list_map(
            {
                key: value.get("to") if isinstance(value, dict) else None
                for key, value in remap.items()
            },
            "owasp_2023_to_2025",
        ),
        owasp_2025_threat_type=_str_map(
            data.get("owasp_2025_threat_type"), "owasp_2025_threat_type"
        ),
        garak_module_threat_type=_str_map(
            data.get("garak_probe_module_threat_type"), "garak_probe_module_threat_type"
        ),
        garak_module_owasp_2023=_list_map(
            data.get("garak_probe_module_owasp_2023"), "garak_probe_module_owasp_2023"
        ),
        garak_module_owasp_2025_extra=_list_map(
            data.get("garak_probe_module_owasp_2025_extra"), "garak_probe_module_owasp_2025_extra"
        ),
    )
    known_ids = set(taxonomy.owasp_2025)
    mapped = [
        *(id_ for ids in taxonomy.owasp_2023_to_2025.values() for id_ in ids),
        *taxonomy.owasp_2025_threat_type,
        *(id_ for ids in taxonomy.garak_module_owasp_2025_extra.values() for id_ in ids),
    ]
    if unknown := sorted(set(mapped) - known_ids):
        raise ValueError(f"taxonomy.json: unknown 2025 ids {unknown}")
    kinds = {kind.value for kind in ThreatType}
    used = [*taxonomy.owasp_2025_threat_type.values(), *taxonomy.garak_module_threat_type.values()]
    if unknown := sorted(set(used) - kinds):
        raise ValueError(f"taxonomy.json: unknown threat types {unknown}")
    tags = {tag for tags in taxonomy.garak_module_owasp_2023.values() for tag in tags}
    if unknown := sorted(tags - set(taxonomy.owasp_2023_to_2025)):
        raise ValueError(f"taxonomy.json: unknown 2023 tags {unknown}")
    return taxonomy


@cache
def taxonomy() -> Taxonomy:
    """The packaged mapping, parsed once per process."""
    resource = files("clearinghouse.intake.importers").joinpath("data", "taxonomy.json")
    return parse_taxonomy(resource.read_text(encoding="utf-8"))
