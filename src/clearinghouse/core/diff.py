"""A word-level diff of two texts, for people comparing attack prompts side by side.

The result is data, not HTML: a list of segments (``equal``, ``insert``, ``delete``) that the
template renders with ``<ins>``/``<del>``, each segment's text through the ``inert`` filter so that
markup stays text and invisible characters show as badges. ``difflib.HtmlDiff`` is not used: it
escapes markup but passes zero-width and bidi characters straight to the page.

Words are compared whole, whitespace ignored, and each word keeps the whitespace that follows it
for display, so joining the ``equal`` and ``insert`` segments gives back ``after`` exactly (within
the token cap). Invisible characters are not whitespace, so a word that differs only by a hidden
character shows as changed.

Pure module: no Django imports.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["MAX_TOKENS", "DiffSegment", "WordDiff", "tokens", "word_diff"]

# SequenceMatcher is roughly quadratic in the worst case; a family page computes one diff per
# member shown, so each side is cut to this many words (wrappers are stored up to 20,000 chars).
MAX_TOKENS = 5_000

Operation = Literal["equal", "insert", "delete"]

# A word with the whitespace after it; leading whitespace of the text is a token of its own.
_TOKEN = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True, slots=True)
class DiffSegment:
    op: Operation
    text: str


@dataclass(frozen=True, slots=True)
class WordDiff:
    """Segments in reading order; ``truncated`` when either side was longer than the cap."""

    segments: tuple[DiffSegment, ...]
    truncated: bool
    inserted_words: int
    deleted_words: int

    @property
    def changed(self) -> bool:
        return bool(self.inserted_words or self.deleted_words)


def tokens(text: str) -> list[str]:
    """``text`` as words, each with its trailing whitespace; ``"".join(tokens(t)) == t``."""
    return _TOKEN.findall(text)


def _common_prefix(a: list[str], b: list[str]) -> int:
    count = 0
    for left, right in zip(a, b, strict=False):
        if left != right:
            break
        count += 1
    return count


def word_diff(before: str, after: str, *, max_tokens: int = MAX_TOKENS) -> WordDiff:
    """How ``after`` differs from ``before``, word by word, over their first ``max_tokens`` words."""
    before_tokens, after_tokens = tokens(before), tokens(after)
    truncated = len(before_tokens) > max_tokens or len(after_tokens) > max_tokens
    before_tokens, after_tokens = before_tokens[:max_tokens], after_tokens[:max_tokens]
    before_keys = [token.strip() for token in before_tokens]
    after_keys = [token.strip() for token in after_tokens]

    # Members of one family share most of their text: trimming the common ends first leaves
    # SequenceMatcher only the part that differs.
    head = _common_prefix(before_keys, after_keys)
    tail = _common_prefix(before_keys[head:][::-1], after_keys[head:][::-1])
    middle = difflib.SequenceMatcher(
        None, before_keys[head : len(before_keys) - tail], after_keys[head : len(after_keys) - tail]
    )

    raw: list[DiffSegment] = []
    inserted = deleted = 0
    if head:
        raw.append(DiffSegment("equal", "".join(after_tokens[:head])))
    for tag, a_start, a_end, b_start, b_end in middle.get_opcodes():
        a_start, a_end, b_start, b_end = (i + head for i in (a_start, a_end, b_start, b_end))
        if tag == "equal":
            raw.append(DiffSegment("equal", "".join(after_tokens[b_start:b_end])))
            continue
        if a_end > a_start:
            deleted += sum(1 for key in before_keys[a_start:a_end] if key)
            raw.append(DiffSegment("delete", "".join(before_tokens[a_start:a_end])))
        if b_end > b_start:
            inserted += sum(1 for key in after_keys[b_start:b_end] if key)
            raw.append(DiffSegment("insert", "".join(after_tokens[b_start:b_end])))
    if tail:
        raw.append(DiffSegment("equal", "".join(after_tokens[len(after_tokens) - tail :])))

    merged: list[DiffSegment] = []
    for segment in raw:
        if merged and merged[-1].op == segment.op:
            merged[-1] = DiffSegment(segment.op, merged[-1].text + segment.text)
        elif segment.text:
            merged.append(segment)
    return WordDiff(tuple(merged), truncated, inserted, deleted)
