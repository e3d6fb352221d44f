"""Make hostile text inert and visible for people reading it.

Report text is attack text by design. Escaping stops markup from running; this module goes one
step further and turns characters a reader cannot see (zero-width, bidi controls, other format and
control characters) into visible markers, so an analyst sees what the model saw.

Pure module: no Django imports; the template filter in ``core.templatetags.inert`` wraps it.
"""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass

# Characters that reorder text (Trojan Source, CVE-2021-42574): named so the marker says what they do.
BIDI_CONTROLS: dict[str, str] = {
    "\u202a": "LRE",
    "\u202b": "RLE",
    "\u202c": "PDF",
    "\u202d": "LRO",
    "\u202e": "RLO",
    "\u2066": "LRI",
    "\u2067": "RLI",
    "\u2068": "FSI",
    "\u2069": "PDI",
    "\u200e": "LRM",
    "\u200f": "RLM",
    "\u061c": "ALM",
}

# Invisible characters that carry no direction but hide or split words.
INVISIBLES: dict[str, str] = {
    "\u200b": "ZWSP",
    "\u200c": "ZWNJ",
    "\u200d": "ZWJ",
    "\u2060": "WJ",
    "\ufeff": "BOM",
    "\u00ad": "SHY",
    "\u180e": "MVS",
    "\u034f": "CGJ",
    "\u2061": "FA",
    "\u2062": "IT",
    "\u2063": "IS",
    "\u2064": "IP",
}

_KEEP_AS_IS = {"\n", "\t"}


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of text: either plain characters or one revealed invisible character."""

    text: str
    marker: str | None = None  # None for plain text; else the short name shown to the reader
    kind: str | None = None  # "bidi", "invisible", "control", "tag" or "variation"


def _classify(char: str) -> tuple[str, str] | None:
    if char in _KEEP_AS_IS:
        return None
    if char in BIDI_CONTROLS:
        return BIDI_CONTROLS[char], "bidi"
    if char in INVISIBLES:
        return INVISIBLES[char], "invisible"
    code = ord(char)
    if 0xE0000 <= code <= 0xE007F:
        # Unicode tag characters smuggle ASCII invisibly ("ASCII smuggling"); show what they spell.
        inner = chr(code - 0xE0000) if 0xE0020 <= code <= 0xE007E else ""
        return (f"TAG {inner}" if inner else f"U+{code:04X}"), "tag"
    if 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF:
        return f"VS U+{code:04X}", "variation"
    category = unicodedata.category(char)
    if category == "Cc":
        if char == "\x1b":
            return "ESC", "control"
        return f"U+{code:04X}", "control"
    if category in {"Cf", "Co", "Cn", "Cs", "Zl", "Zp"}:
        return f"U+{code:04X}", "invisible"
    return None


def segments(text: str) -> list[Segment]:
    """Split ``text`` into plain runs and revealed invisible characters, in order."""
    out: list[Segment] = []
    plain: list[str] = []
    for char in text:
        found = _classify(char)
        if found is None:
            plain.append(char)
            continue
        if plain:
            out.append(Segment("".join(plain)))
            plain = []
        marker, kind = found
        previous = out[-1] if out else None
        if (
            kind == "tag"
            and marker.startswith("TAG ")
            and previous is not None
            and previous.kind == "tag"
            and str(previous.marker).startswith("TAG ")
        ):
            # A run of tag characters spells a hidden message: one badge reads better than forty.
            out[-1] = Segment(
                previous.text + char,
                marker=f"{previous.marker}{marker.removeprefix('TAG ')}",
                kind="tag",
            )
        else:
            out.append(Segment(char, marker=marker, kind=kind))
    if plain:
        out.append(Segment("".join(plain)))
    return out


def count_hidden(text: str) -> int:
    """How many characters in ``text`` a reader could not see."""
    return sum(1 for char in text if _classify(char) is not None)


def to_html(text: str) -> str:
    """Escaped HTML for ``text`` with every invisible character shown as a marked-up badge.

    The original character is *not* emitted (a bidi control inside the page would still reorder
    it); the badge's ``title`` gives its code point instead.
    """
    parts: list[str] = []
    for segment in segments(text):
        if segment.marker is None:
            parts.append(html.escape(segment.text, quote=True))
        else:
            code = " ".join(f"U+{ord(c):04X}" for c in segment.text)
            parts.append(
                f'<span class="hidden-char hidden-{segment.kind}" title="{code}">'
                f"{html.escape(segment.marker)}</span>"
            )
    return "".join(parts)
