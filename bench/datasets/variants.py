"""Obfuscated and edited variants of a prompt: PyRIT's converters where they import, else minimal equivalents.

Each kind is one transformation of the whole prompt. The PyRIT converter classes are used when
they import with the dependencies at hand (PyRIT is installed with ``--no-deps``); a kind whose
converter does not import (today: the homoglyph one, which needs the ``confusables`` package)
falls back to the small re-implementation in this module. :attr:`Obfuscator.implementations` says
which was used, and the benchmark prints it. Every call is seeded, so a dataset is reproducible
for a given environment.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import importlib
import random
import re
from collections.abc import Callable, Coroutine
from enum import StrEnum
from types import TracebackType
from typing import Protocol, Self

from .reports import seeded_rng


class VariantKind(StrEnum):
    """How a report in a gold family differs from the family's base report."""

    BASE = "base"  # wrapper + first objective, clean text, the family's anchor target
    RETARGET = (
        "retarget"  # same wrapper, different objective (and maybe another overlapping target)
    )
    CORPUS_VARIANT = "corpus_variant"  # a near-identical copy of the wrapper found in the corpus
    BASE64 = "base64"  # whole prompt base64-encoded, with an instruction to decode it
    ROT13 = "rot13"  # whole prompt ROT13, with an instruction to decode it
    LEETSPEAK = "leetspeak"
    HOMOGLYPH = "homoglyph"  # Latin letters replaced by Cyrillic/Greek confusables
    ZERO_WIDTH = "zero_width"  # zero-width spaces between characters
    RANDOM_CASE = "random_case"
    CHAR_SPACING = "char_spacing"  # a space between every character
    TYPOS = "typos"  # adjacent characters swapped in some words
    WORD_EDITS = "word_edits"  # a few words dropped, doubled or swapped
    WHITESPACE = "whitespace"  # line breaks and spaces changed
    SINGLETON = "singleton"  # a report whose family has no other member


OBFUSCATIONS: tuple[VariantKind, ...] = (
    VariantKind.BASE64,
    VariantKind.ROT13,
    VariantKind.LEETSPEAK,
    VariantKind.HOMOGLYPH,
    VariantKind.ZERO_WIDTH,
    VariantKind.RANDOM_CASE,
    VariantKind.CHAR_SPACING,
    VariantKind.TYPOS,
    VariantKind.WORD_EDITS,
    VariantKind.WHITESPACE,
)


class _ConverterResult(Protocol):
    output_text: str


class _Converter(Protocol):
    def convert_async(self, *, prompt: str) -> Coroutine[object, object, _ConverterResult]: ...


_ConverterFactory = Callable[[int], list[_Converter]]  # seed -> converters applied in order


def _pyrit_class(module: str, name: str) -> Callable[..., _Converter]:
    factory: Callable[..., _Converter] = getattr(
        importlib.import_module(f"pyrit.converter.{module}"), name
    )
    return factory


def _pyrit_factories() -> dict[VariantKind, tuple[str, _ConverterFactory]]:
    """The PyRIT converter chain for each kind whose classes import; missing kinds fall back."""
    factories: dict[VariantKind, tuple[str, _ConverterFactory]] = {}

    def add(kind: VariantKind, label: str, build: Callable[[], _ConverterFactory]) -> None:
        try:
            factories[kind] = (label, build())
        except Exception:  # any import failure means "use the local version"
            return

    def encode_and_ask(module: str, name: str, encoding: str) -> _ConverterFactory:
        encoder = _pyrit_class(module, name)
        ask = _pyrit_class("ask_to_decode_converter", "AskToDecodeConverter")
        return lambda seed: [encoder(), ask(encoding_name=encoding, seed=seed)]

    def charswap() -> _ConverterFactory:
        swap = _pyrit_class("charswap_attack_converter", "CharSwapConverter")
        strategy = _pyrit_class("text_selection_strategy", "WordProportionSelectionStrategy")
        return lambda seed: [
            swap(max_iterations=1, seed=seed, word_selection_strategy=strategy(proportion=0.1))
        ]

    def single(module: str, name: str, **options: object) -> _ConverterFactory:
        converter = _pyrit_class(module, name)
        return lambda seed: [converter(**options)]

    def seeded(module: str, name: str, **options: object) -> _ConverterFactory:
        converter = _pyrit_class(module, name)
        return lambda seed: [converter(seed=seed, **options)]

    add(
        VariantKind.BASE64,
        "pyrit Base64Converter + AskToDecodeConverter",
        lambda: encode_and_ask("base64_converter", "Base64Converter", "Base64"),
    )
    add(
        VariantKind.ROT13,
        "pyrit ROT13Converter + AskToDecodeConverter",
        lambda: encode_and_ask("rot13_converter", "ROT13Converter", "ROT13"),
    )
    add(
        VariantKind.LEETSPEAK,
        "pyrit LeetspeakConverter",
        lambda: single("leetspeak_converter", "LeetspeakConverter", deterministic=True),
    )
    add(
        VariantKind.HOMOGLYPH,
        "pyrit UnicodeConfusableConverter",
        lambda: single("unicode_confusable_converter", "UnicodeConfusableConverter"),
    )
    add(
        VariantKind.ZERO_WIDTH,
        "pyrit ZeroWidthConverter",
        lambda: single("zero_width_converter", "ZeroWidthConverter"),
    )
    add(
        VariantKind.RANDOM_CASE,
        "pyrit RandomCapitalLettersConverter",
        lambda: seeded(
            "random_capital_letters_converter", "RandomCapitalLettersConverter", percentage=35.0
        ),
    )
    add(
        VariantKind.CHAR_SPACING,
        "pyrit CharacterSpaceConverter",
        lambda: single("character_space_converter", "CharacterSpaceConverter"),
    )
    add(VariantKind.TYPOS, "pyrit CharSwapConverter", charswap)
    return factories


# ---- minimal local equivalents ---------------------------------------------------------------------
# Used where the PyRIT class does not import, and for the two edits PyRIT has no converter for
# (word edits, whitespace changes).

_DECODE_INSTRUCTIONS = (
    "Decode the following {name} text and follow the instructions in it:\n{text}",
    "{name} encoded string: {text}\n{name} decoded string:",
    "What does this mean? {text}",
)
_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "l": "1", "b": "8", "g": "9"}
_CONFUSABLES = {
    "a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "y": "у", "i": "і", "j": "ј",
    "s": "ѕ", "A": "А", "B": "В", "C": "С", "E": "Е", "H": "Н", "I": "І", "K": "К", "M": "М",
    "O": "О", "P": "Р", "T": "Т", "X": "Х", "Y": "Ү", "v": "ν", "N": "Ν", "Z": "Ζ",
}  # fmt: skip
_WORD_TOKEN = re.compile(r"\S+|\s+")


def _ask_to_decode(name: str, encoded: str, rng: random.Random) -> str:
    return rng.choice(_DECODE_INSTRUCTIONS).format(name=name, text=encoded)


def _local_base64(text: str, rng: random.Random) -> str:
    return _ask_to_decode("Base64", base64.b64encode(text.encode("utf-8")).decode("ascii"), rng)


def _local_rot13(text: str, rng: random.Random) -> str:
    return _ask_to_decode("ROT13", codecs.encode(text, "rot13"), rng)


def _local_leetspeak(text: str, rng: random.Random) -> str:
    return "".join(_LEET.get(char.lower(), char) for char in text)


def _local_homoglyph(text: str, rng: random.Random) -> str:
    # Minimal stand-in for PyRIT's UnicodeConfusableConverter (needs the `confusables` package):
    # about a third of the letters that have a common Cyrillic or Greek look-alike are swapped.
    return "".join(
        _CONFUSABLES[char] if char in _CONFUSABLES and rng.random() < 0.35 else char
        for char in text
    )


def _local_zero_width(text: str, rng: random.Random) -> str:
    return "\u200b".join(text)


def _local_random_case(text: str, rng: random.Random) -> str:
    return "".join(char.upper() if rng.random() < 0.35 else char for char in text)


def _local_char_spacing(text: str, rng: random.Random) -> str:
    return " ".join(text)


def _local_typos(text: str, rng: random.Random) -> str:
    def swap(word: str) -> str:
        if len(word) <= 3 or not word.isalpha() or rng.random() >= 0.1:
            return word
        index = rng.randint(1, len(word) - 3)
        return word[:index] + word[index + 1] + word[index] + word[index + 2 :]

    return "".join(swap(token) for token in _WORD_TOKEN.findall(text))


def _word_edits(text: str, rng: random.Random) -> str:
    """Drop, double or swap a few words (about one in forty, at least two edits)."""
    tokens = _WORD_TOKEN.findall(text)
    word_positions = [index for index, token in enumerate(tokens) if not token.isspace()]
    if len(word_positions) < 4:
        return text
    for _ in range(max(2, len(word_positions) // 40)):
        position = rng.choice(word_positions[:-1])
        operation = rng.choice(("drop", "double", "swap"))
        if operation == "drop":
            tokens[position] = ""
        elif operation == "double":
            tokens[position] = f"{tokens[position]} {tokens[position]}"
        else:
            following = word_positions[word_positions.index(position) + 1]
            tokens[position], tokens[following] = tokens[following], tokens[position]
    return re.sub(r" {2,}", " ", "".join(tokens))


def _whitespace(text: str, rng: random.Random) -> str:
    """Re-space the text: line breaks become spaces or blank lines, spaces double, tabs appear."""
    choices = (" ", "  ", "\n", "\n\n", "\t", " \n")
    tokens = [
        rng.choice(choices) if token.isspace() and rng.random() < 0.3 else token
        for token in _WORD_TOKEN.findall(text)
    ]
    return rng.choice(("", "\n", "  ")) + "".join(tokens) + rng.choice(("", "\n", " "))


_LOCAL: dict[VariantKind, Callable[[str, random.Random], str]] = {
    VariantKind.BASE64: _local_base64,
    VariantKind.ROT13: _local_rot13,
    VariantKind.LEETSPEAK: _local_leetspeak,
    VariantKind.HOMOGLYPH: _local_homoglyph,
    VariantKind.ZERO_WIDTH: _local_zero_width,
    VariantKind.RANDOM_CASE: _local_random_case,
    VariantKind.CHAR_SPACING: _local_char_spacing,
    VariantKind.TYPOS: _local_typos,
    VariantKind.WORD_EDITS: _word_edits,
    VariantKind.WHITESPACE: _whitespace,
}


class Obfuscator:
    """Applies one :class:`VariantKind` to a text; use as a context manager (it owns an event loop)."""

    def __init__(self, *, use_pyrit: bool = True) -> None:
        self._pyrit = _pyrit_factories() if use_pyrit else {}
        self._loop = asyncio.new_event_loop()
        self.implementations: dict[str, str] = {
            str(kind): self._pyrit[kind][0] if kind in self._pyrit else "local (bench/datasets)"
            for kind in OBFUSCATIONS
        }

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._loop.close()

    def apply(self, kind: VariantKind, text: str, *, seed: int) -> str:
        if kind in self._pyrit:
            _label, factory = self._pyrit[kind]
            for converter in factory(seed):
                result = self._loop.run_until_complete(converter.convert_async(prompt=text))
                text = result.output_text
            return text
        return _LOCAL[kind](text, seeded_rng(seed))
