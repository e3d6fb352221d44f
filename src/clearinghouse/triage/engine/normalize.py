"""Normalise attack text for analysis; the original is never modified.

Three jobs, all pure functions:

- ``fold``: one canonical form for comparison. Unicode tag characters are decoded (they smuggle
  ASCII), zero-width and bidi controls removed, NFKC applied, homoglyphs folded to the Latin letter
  they imitate (Unicode's confusables, via the ``confusable_homoglyphs`` data), diacritics
  stripped, leetspeak undone inside words, case folded, whitespace collapsed.
- ``decode_layers``: finds base64, hex, URL-encoded and rot13 text inside a prompt and replaces it
  with what it says, up to three layers deep, and says which encodings it found.
- ``split_wrapper_payload``: separates the jailbreak *wrapper* from the *payload* (the objective it
  carries), so one wrapper reused with different objectives is recognised as one technique.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import json
import re
import string
import unicodedata
import urllib.parse
from dataclasses import dataclass
from importlib import resources

# ---- folding ---------------------------------------------------------------------------------

_INVISIBLE = dict.fromkeys(
    [
        0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180E,
        0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2060,
        0x2061, 0x2062, 0x2063, 0x2064, 0x2066, 0x2067, 0x2068, 0x2069, 0x3164, 0xFEFF, 0xFFA0,
    ],
)  # fmt: skip

# str.translate with a dict costs ~100 ns a character; a character-class regex skips clean text fast.
_INVISIBLE_RE = re.compile("[" + "".join(chr(code) for code in _INVISIBLE) + "]")

_LEET_DIGITS = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g"}
)
_LEET_SYMBOLS = {"@": "a", "$": "s", "!": "i", "|": "l"}
# Only words that mix letters with digits or symbols: plain words and numbers skip the callback.
# The lookbehind anchors matching at word starts: without it every letter inside a plain word
# started a failing match of its own (quadratic in word length; half of folding's time).
_LEET_WORD = re.compile(
    r"(?<![0-9a-z@$!|])(?:[a-z]+[0-9@$!|][0-9a-z@$!|]*|[0-9@$!|]+[a-z][0-9a-z@$!|]*)"
)
# Cheap test first: most prose has no letter next to a digit or an inner symbol.
_LEET_HINT = re.compile(r"[0-9@$!|](?:(?<=[a-z][0-9])|(?<=[0-9])(?=[a-z])|(?<=[a-z].)(?=[a-z]))")


@functools.cache
def _confusable_table() -> dict[int, str]:
    """Map every single-character homoglyph of an ASCII letter or digit to that character."""
    raw = resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    data: dict[str, list[dict[str, str]]] = json.loads(raw)
    table: dict[int, str] = {}
    # Digits first so that letters win where a glyph imitates both ("l" and "1").
    for ascii_char in string.digits + string.ascii_letters:
        for entry in data.get(ascii_char, []):
            glyph = entry["c"]
            if len(glyph) == 1 and not glyph.isascii():
                table[ord(glyph)] = ascii_char.lower()
    return table


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
_NON_ASCII_LETTER = re.compile(r"[^\W\d_\x00-\x7f]")
_ASCII_NOT_ALPHA = bytes(code for code in range(128) if not chr(code).isalpha())
_TAGS = re.compile("[\U000e0000-\U000e007f]")


def decode_tag_characters(text: str) -> str:
    """Unicode tag characters (U+E0020–U+E007E) spell ASCII invisibly: make them plain text."""
    if text.isascii() or not _TAGS.search(text):
        return text
    out = []
    for char in text:
        code = ord(char)
        if 0xE0020 <= code <= 0xE007E:
            out.append(chr(code - 0xE0000))
        elif 0xE0000 <= code <= 0xE007F:
            continue
        else:
            out.append(char)
    return "".join(out)


_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def _strip_marks(text: str) -> str:
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text))


def _unleet(match: re.Match[str]) -> str:
    """Undo leetspeak in a word that mixes letters with digits or symbols ("m4k3", "p@ss")."""
    word = match.group(0)
    if word.isalpha() or not any(char.isalpha() for char in word):
        return word
    chars = list(word.translate(_LEET_DIGITS))
    # Symbols only between letters: "world!" keeps its "!", "p@ss" loses its "@".
    for index in range(1, len(chars) - 1):
        if chars[index] in _LEET_SYMBOLS:
            chars[index] = _LEET_SYMBOLS[chars[index]]
    return "".join(chars)


def count_leet_words(text: str) -> int:
    """Words that mix letters with digits or symbols, a sign of leetspeak."""
    lowered = text.casefold()
    return len(_LEET_WORD.findall(lowered)) if _LEET_HINT.search(lowered) else 0


@dataclass(frozen=True, slots=True)
class Folded:
    """Folded text and what folding found on the way (signs of obfuscation)."""

    text: str
    hidden: int = 0  # zero-width, bidi and tag characters removed
    confusables: int = 0  # homoglyphs folded to the Latin letters they imitate
    leet_words: int = 0  # words that mixed letters with digits or symbols
    non_latin: float = 0.0  # share of letters left outside the Latin script


def fold(text: str) -> str:
    """The canonical comparison form of ``text`` (see the module docstring)."""
    return fold_with_statistics(text).text


def fold_with_statistics(text: str) -> Folded:
    """``fold``, counting what it removed or replaced (one pass serves both)."""
    hidden = confusables = leet_words = 0
    non_ascii = not text.isascii()  # ASCII has no invisibles, compatibility forms or homoglyphs
    if non_ascii:
        if _TAGS.search(text):
            hidden += len(_TAGS.findall(text))
            text = decode_tag_characters(text)
        text, removed = _INVISIBLE_RE.subn("", text)
        hidden += removed
        # Case first: the lower-case form of a letter can itself be a homoglyph (Warang Citi
        # capital U+118A8 folds to U+118C8, which imitates "o"); folding homoglyphs after case
        # would leave a second fold with work to do.
        text = unicodedata.normalize("NFKC", text).casefold()
        # Translate only the non-ASCII runs: str.translate with a dict costs ~100 ns a character.
        table = _confusable_table()

        def fold_run(match: re.Match[str]) -> str:
            nonlocal confusables
            run = match.group(0)
            folded_run = run.translate(table)
            # Homoglyph attacks swap a letter or two inside Latin words; long runs are scripts.
            if folded_run != run and len(run) <= 3:
                confusables += len(run)
            return folded_run

        # Marks before homoglyphs: "ά" loses its accent to become "α", which imitates "a".
        text = _NON_ASCII_RUN.sub(fold_run, _strip_marks(text))
    text = text.casefold()  # again: a homoglyph may stand for a capital ("Ａ" → "A")
    if _LEET_HINT.search(text):

        def unleet(match: re.Match[str]) -> str:
            nonlocal leet_words
            word = _unleet(match)
            leet_words += word != match.group(0)
            return word

        text = _LEET_WORD.sub(unleet, text)
    text = collapse_spacing(text)
    non_latin = 0.0
    if non_ascii and not text.isascii():
        others = len(_NON_ASCII_LETTER.findall(text))
        latin = len(text.encode("ascii", "ignore").translate(None, _ASCII_NOT_ALPHA))
        non_latin = others / (others + latin) if others + latin else 0.0
    return Folded(text, hidden, confusables, leet_words, non_latin)


def collapse_spacing(text: str) -> str:
    """Spacing collapses, but paragraph breaks survive (the wrapper/payload split reads them).

    Each line's whitespace runs become one space and blank lines one paragraph break; the ends
    are trimmed. str.split does it in C: three regex passes over non-ASCII text cost more than
    the rest of folding.
    """
    lines: list[str] = []
    blank = False
    for line in text.split("\n"):
        words = line.split()
        if not words:
            blank = True
            continue
        if blank and lines:
            lines.append("")
        lines.append(" ".join(words))
        blank = False
    return "\n".join(lines)


_NOT_ALNUM = re.compile(r"[\W_]+")
# Leetspeak writes "c" as a bracket glued to the next letter ("(0mpu73r"); "l", "1" and "|" all
# become "i" in a skeleton. Both only feed comparison streams, where consistency is what counts.
_BRACKET_C = re.compile(r"[(\[<{](?=[0-9a-z])")


_ASCII_NOT_ALNUM = bytes(code for code in range(128) if not chr(code).isalnum())


def alnum_stream(folded: str) -> str:
    """Letters and digits only: spacing, punctuation and line-break tricks stop mattering."""
    if folded.isascii():
        # bytes.translate deletes through a table in C: several times faster than a regex.
        return folded.encode("ascii").translate(None, _ASCII_NOT_ALNUM).decode("ascii")
    return _NOT_ALNUM.sub("", folded)


def comparison_stream(folded: str) -> str:
    """What similarity is computed on: alphanumerics, with leetspeak's ambiguities collapsed."""
    return alnum_stream(_BRACKET_C.sub("c", folded)).replace("l", "i")


# ---- decoding encoded layers ----------------------------------------------------------------

_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]?){8,}(?![0-9A-Fa-f])")
# Hex worth decoding has digits among its first characters; English words have none.
_HEX_HINT = re.compile(r"[0-9][0-9A-Fa-f]{7}")
_ROT_WORDS = ("rot13", "rot-13", "caesar", "cipher", "decode", "encod", "shift")


def _rot_hint(text: str) -> bool:
    # Substring tests on a lowered copy: a case-insensitive regex alternation is ~25x slower.
    lowered = text.lower()
    return any(word in lowered for word in _ROT_WORDS)


_URLENC = re.compile(r"(?:%[0-9A-Fa-f]{2}[^%\s]{0,3}){4,}")
_WORD = re.compile(r"[a-z]{2,}")  # one-letter "words" are what leetspeak leaves behind
_COMMON = frozenset(
    "the be to of and a in that have i it for not on with he as you do at this but his by from "
    "they we say her she or an will my one all would there their what so up out if about who get "
    "which go me when make can like time no just him know take people into year your good some "
    "could them see other than then now look only come its over think also back after use two how "
    "our work first well way even new want because any these give day most us is are was were "
    "write tell explain how step instructions please answer ignore previous all".split()
)


def _printable_ratio(text: str) -> float:
    if not text:
        return 0.0
    good = sum(1 for char in text if char.isprintable() or char in "\n\t\r")
    return good / len(text)


def _english_ratio(text: str) -> float:
    # A sample is enough to tell English from rot13, and keeps long prompts cheap.
    words = _WORD.findall(text[:1500].lower())
    if len(words) < 3:
        return 0.0
    return sum(1 for word in words if word in _COMMON) / len(words)


def _try_base64(chunk: str) -> str | None:
    padded = chunk + "=" * (-len(chunk) % 4)
    for decoder in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decoder(padded)
        except (binascii.Error, ValueError):
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if len(text) >= 4 and _printable_ratio(text) > 0.95 and any(c.isalpha() for c in text):
            # A long identifier can decode to printable noise; demand some words.
            if " " in text or _english_ratio(text) > 0 or len(text) < 24 or _BASE64.fullmatch(text):
                return text  # words, or another layer of base64 to peel next round
    return None


def _try_hex(chunk: str) -> str | None:
    digits = re.sub(r"[ :]", "", chunk)
    if len(digits) % 2:
        return None
    try:
        text = bytes.fromhex(digits).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return text if _printable_ratio(text) > 0.95 and any(c.isalpha() for c in text) else None


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    layers: tuple[str, ...]  # encodings found, outermost first


def _decode_once(text: str) -> tuple[str, list[str]]:
    found: list[str] = []

    def base64_sub(match: re.Match[str]) -> str:
        decoded = _try_base64(match.group(0))
        if decoded is None:
            return match.group(0)
        found.append("base64")
        return f" {decoded} "

    def hex_sub(match: re.Match[str]) -> str:
        decoded = _try_hex(match.group(0))
        if decoded is None:
            return match.group(0)
        found.append("hex")
        return f" {decoded} "

    def url_sub(match: re.Match[str]) -> str:
        decoded = urllib.parse.unquote(match.group(0))
        if decoded == match.group(0):
            return decoded
        found.append("url")
        return decoded

    text = _BASE64.sub(base64_sub, text)
    if _HEX_HINT.search(text):
        text = _HEX.sub(hex_sub, text)
    if "%" in text:
        text = _URLENC.sub(url_sub, text)
    # rot13: only when the rotated text reads much more like English than the text itself. An
    # English request to "decode this" often surrounds it, so paragraphs are judged one by one.
    # In English "e" far outnumbers "r"; rot13 swaps them. Counting is cheap, reading words is not.
    rot13_shaped = text.count("e") + text.count("E") < 1.2 * (text.count("r") + text.count("R"))
    if not rot13_shaped and not _rot_hint(text):
        return text, found
    plain_ratio = _english_ratio(text)
    if plain_ratio < 0.2:
        rotated = codecs.decode(text, "rot13")
        if _english_ratio(rotated) > max(0.25, plain_ratio * 2):
            found.append("rot13")
            return rotated, found
    if plain_ratio < 0.5 and "\n" in text and _rot_hint(text):
        parts = text.split("\n")
        changed = False
        for position, part in enumerate(parts):
            ratio = _english_ratio(part)
            if len(part) >= 40 and ratio < 0.1:
                rotated = codecs.decode(part, "rot13")
                if _english_ratio(rotated) > 0.25:
                    parts[position] = rotated
                    changed = True
        if changed:
            found.append("rot13")
            text = "\n".join(parts)
    return text, found


def decode_layers(text: str, max_depth: int = 3) -> Decoded:
    """Replace encoded segments with their decoded text, repeatedly (an encoding in an encoding)."""
    layers: list[str] = []
    for _ in range(max_depth):
        text, found = _decode_once(text)
        if not found:
            break
        layers.extend(found)
    return Decoded(text=text, layers=tuple(dict.fromkeys(layers)))


# ---- wrapper and payload ---------------------------------------------------------------------

PAYLOAD_MARK = "\u27e6\u27e7"  # ⟦⟧: not alphanumeric, so comparison streams drop it

_PLACEHOLDERS = re.compile(
    r"\{\{\s*prompt\s*\}\}|\[\s*insert prompt here\s*\]|\[\s*prompt\s*\]|<\s*prompt\s*>|"
    r"\{prompt\}|\[\s*your (?:question|request|prompt) here\s*\]",
    re.IGNORECASE,
)
_LEAD_INS = re.compile(
    r"(?:^|\n|[.!?:]\s)\s*(?:my first (?:question|request|prompt) is|here is my (?:question|request)"
    r"|(?:the )?(?:question|request|prompt|task|query|instruction)\s*[:=]|now,? (?:answer|respond to|tell me)"
    r"|answer (?:this|the following)(?: question)?\s*[:=]?|respond to (?:this|the following)\s*[:=]?"
    r"|\[?(?:user|human)(?: input| prompt| request)?\]?\s*:)\s*",
    re.IGNORECASE,
)


def _find_folded(needle: str, haystack: str) -> tuple[int, int] | None:
    """Where ``needle`` occurs in ``haystack``, both folded; returns a span in ``haystack``."""
    if not needle:
        return None
    start = haystack.find(needle)
    if start >= 0:
        return start, start + len(needle)
    return None


def split_wrapper_payload(folded_prompt: str, folded_objective: str = "") -> tuple[str, str]:
    """Split a folded prompt into (wrapper, payload).

    In order of trust: the stated objective found in the prompt; a template placeholder (the
    wrapper arrived unfilled: no payload); a lead-in such as "my first question is:" followed by a
    short request; else, when the last paragraph is short beside the rest, that paragraph.
    """
    span = _find_folded(folded_objective, folded_prompt)
    if span is not None:
        start, end = span
        return (
            f"{folded_prompt[:start]}{PAYLOAD_MARK}{folded_prompt[end:]}",
            folded_prompt[start:end],
        )
    if _PLACEHOLDERS.search(folded_prompt):
        return _PLACEHOLDERS.sub(PAYLOAD_MARK, folded_prompt), ""
    lead_ins = list(_LEAD_INS.finditer(folded_prompt))
    if lead_ins:
        last = lead_ins[-1]
        tail = folded_prompt[last.end() :]
        if 0 < len(tail) <= max(300, len(folded_prompt) // 3):
            return folded_prompt[: last.end()] + PAYLOAD_MARK, tail.lstrip(" :=-")
    paragraphs = folded_prompt.rsplit("\n\n", 1)
    if len(paragraphs) == 2 and len(paragraphs[1]) * 4 < len(paragraphs[0]):
        return paragraphs[0] + "\n\n" + PAYLOAD_MARK, paragraphs[1]
    return folded_prompt, ""
