"""Reading prompts the way A1111-style tools read them, to find what people ask for.

A prompt is split into phrases at commas, new lines, `BREAK`, `AND` and the
`|` / `:` of alternation and prompt editing. Emphasis follows A1111:
`(x)` multiplies the weight by 1.1, `[x]` divides it by 1.1, `(x:1.3)` sets the
multiplier, and nesting multiplies. `\\(` and `\\)` are literal parentheses
(`pikachu \\(pokemon\\)`). Extra-network tags (`<lora:name:0.8>`,
`<lyco:...>`, `<hypernet:...>`) are taken out and reported on their own.

The phrases and words a person would call "concepts" are counted once per
prompt, with stop-words and bare numbers left out.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1
# Chunks longer than this are sentences, not tags; they give word pairs instead.
MAX_PHRASE_WORDS = 5

_NETWORK_BODY_PATTERN = (
    r"\s*(lora|lyco|locon|loha|lokr|hypernet|hypernetwork)\s*:\s*([^:<>]+?)\s*"
    r"(?::\s*([-+]?(?:\d+\.?\d*|\.\d+))[^<>]*)?"
)
_NETWORK = re.compile(f"<{_NETWORK_BODY_PATTERN}>", re.IGNORECASE)
_NETWORK_BODY = re.compile(_NETWORK_BODY_PATTERN, re.IGNORECASE)
_ANGLE_TAG = re.compile(r"<([^<>]*)>")
# Keywords that separate parts of a prompt; A1111 only knows them in upper case.
_KEYWORD_SEPARATOR = re.compile(r"\bBREAK\b|\bAND\b")
# The A1111 attention grammar, plus `:` and `|` so prompt editing can be seen.
_ATTENTION = re.compile(
    r"\\.|\(|\[|:\s*([-+]?(?:\d+\.?\d*|\.\d+))\s*\)|\)|\]|[:|]|[^\\()\[\]:|]+|\\",
    re.DOTALL,
)
_SEPARATOR = re.compile(r"[,\n\r|:;]+")
_BRACKET_OR_ESCAPE = re.compile(r"[()\[\]\\]")
_WORD = re.compile(r"\w+(?:[-'’]\w+)*")
_NUMBER = re.compile(r"[\d.,_]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
# Characters that wrap a phrase but are not part of it.
_EDGE_PUNCTUATION = " \t\"'`.!?/\\*+=~^&%$#@-_"
_BRACKET_PAIRS = (("(", ")"), ("[", "]"), ("{", "}"), ("<", ">"))

_STOP_WORDS_TEXT = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    also very s t"""
STOP_WORDS: frozenset[str] = frozenset(_STOP_WORDS_TEXT.split())


class WeightedPhrase(NamedTuple):
    """One phrase of a prompt, as written (cleaned of syntax), with its A1111 weight."""

    text: str
    weight: float


class ExtraNetwork(NamedTuple):
    """An extra-network tag such as `<lora:name:0.8>`."""

    kind: str  # lora | lyco | hypernet ... (lower case)
    name: str
    weight: float | None


@dataclass(frozen=True)
class ParsedPrompt:
    phrases: list[WeightedPhrase]
    networks: list[ExtraNetwork]


def parse_prompt(text: str | None) -> ParsedPrompt:
    """Split a prompt into weighted phrases and extra-network tags."""
    if not text:
        return ParsedPrompt([], [])
    text, networks = _take_networks_and_keywords(text)
    return ParsedPrompt(_phrases(text), networks)


def _take_networks_and_keywords(text: str) -> tuple[str, list[ExtraNetwork]]:
    """The prompt with extra-network tags and BREAK/AND turned into separators, and the tags."""
    networks: list[ExtraNetwork] = []
    if "<" in text:
        # A plain <...> scan is several times faster than the network pattern; it is
        # enough when every tag it finds is a network tag, which is the usual case.
        found: list[Any] = [_network_tag(body) for body in _ANGLE_TAG.findall(text)]
        if None not in found:
            networks = found
            text = _ANGLE_TAG.sub(",", text)
        else:
            # split() gives text, kind, name, weight, text, ... in one pass.
            parts = _NETWORK.split(text)
            networks = [
                _network(parts[i], parts[i + 1], parts[i + 2]) for i in range(1, len(parts), 4)
            ]
            text = ",".join(parts[0::4])
    if "BREAK" in text or "AND" in text:
        text = _KEYWORD_SEPARATOR.sub("\n", text)
    return text, networks


@lru_cache(maxsize=1 << 14)
def _network_tag(body: str) -> ExtraNetwork | None:
    """The network tag `<body>` is, or None when it is some other text in angle brackets."""
    match = _NETWORK_BODY.fullmatch(body)
    return _network(*match.groups()) if match else None


def _network(kind: str, name: str, weight: str | None) -> ExtraNetwork:
    return ExtraNetwork(kind.lower(), name, float(weight) if weight else None)


def _phrases(text: str) -> list[WeightedPhrase]:
    """The weighted phrases of a prompt without extra-network tags or keywords.

    Emphasis usually opens and closes within one comma-separated chunk; then
    each chunk can be read on its own, and chunks repeat so much across
    prompts that remembering them makes reading 100,000 prompts quick. A
    bracket that spans chunks sends the prompt through the whole-text parser.
    """
    phrases: list[WeightedPhrase] = []
    for chunk in _chunks(text):
        chunk_phrases = _chunk_phrases(chunk)
        if chunk_phrases is None:
            # Unclosed brackets are allowed here, so the parser always answers.
            return _phrases_from_pieces(_attention_pieces(text) or [])
        phrases.extend(chunk_phrases)
    return phrases


def _chunks(text: str) -> list[str]:
    """Comma-separated parts (new lines and semicolons separate too; empty parts stay).

    Plain str methods: a character-class regex split is ten times slower.
    """
    if "\n" in text or "\r" in text or ";" in text:
        text = text.replace("\n", ",").replace("\r", ",").replace(";", ",")
    return text.split(",")


@lru_cache(maxsize=1 << 17)
def _chunk_phrases(chunk: str) -> tuple[WeightedPhrase, ...] | None:
    """The phrases of one chunk, or None when a bracket opened in it stays open."""
    if not _BRACKET_OR_ESCAPE.search(chunk):
        # Plain text: split at the remaining separators (`:`, `|`), weight 1.
        return tuple(
            WeightedPhrase(phrase, 1.0)
            for phrase in map(clean_phrase, _SEPARATOR.split(chunk))
            if phrase
        )
    pieces = _attention_pieces(chunk, require_closed=True)
    return None if pieces is None else tuple(_phrases_from_pieces(pieces))


class Concepts(NamedTuple):
    """What a chunk or prompt contributes to the counts."""

    words: tuple[str, ...]
    concepts: tuple[str, ...]  # multi-word phrases
    emphasis: tuple[tuple[str, float], ...]  # (concept, weight) where the weight is not 1


@lru_cache(maxsize=1 << 17)
def _chunk_concepts(chunk: str) -> Concepts | None:
    """The concepts of one chunk; None as for `_chunk_phrases`."""
    phrases = _chunk_phrases(chunk)
    return None if phrases is None else _concepts_of(phrases)


def _concepts_of(phrases: Iterable[WeightedPhrase]) -> Concepts:
    words: list[str] = []
    concepts: list[str] = []
    emphasis: list[tuple[str, float]] = []
    for text, weight in phrases:
        phrase_words, phrase_multi = phrase_concepts(text)
        words.extend(phrase_words)
        concepts.extend(phrase_multi)
        if weight != 1.0:
            emphasis.extend((concept, weight) for concept in phrase_multi)
    return Concepts(tuple(words), tuple(concepts), tuple(emphasis))


def _prompt_concepts(text: str) -> list[Concepts]:
    """Concepts per chunk of a prompt stripped of networks and keywords (see `_phrases`)."""
    chunks = [_chunk_concepts(chunk) for chunk in _chunks(text)]
    if None in chunks:  # a bracket spans chunks: read the prompt whole
        return [_concepts_of(_phrases_from_pieces(_attention_pieces(text) or []))]
    return chunks  # type: ignore[return-value]  # no None left in it


def _attention_pieces(text: str, *, require_closed: bool = False) -> list[list] | None:
    """[text, weight] pieces, as A1111's parse_prompt_attention makes them.

    `:` and `|` inside `[...]` mark prompt editing or alternation, where the
    brackets do not lower the weight; they end up as phrase separators.
    """
    pieces: list[list] = []
    round_starts: list[int] = []
    square_starts: list[list] = []  # [start, is_prompt_editing]
    open_kinds: list[str] = []

    def multiply_from(start: int, multiplier: float) -> None:
        for piece in pieces[start:]:
            piece[1] *= multiplier

    def close(kind: str) -> None:
        for index in range(len(open_kinds) - 1, -1, -1):
            if open_kinds[index] == kind:
                del open_kinds[index]
                return

    for match in _ATTENTION.finditer(text):
        token = match.group(0)
        explicit_weight = match.group(1)
        if token.startswith("\\") and len(token) == 2:
            pieces.append([token[1], 1.0])
        elif token == "(":
            round_starts.append(len(pieces))
            open_kinds.append("(")
        elif token == "[":
            square_starts.append([len(pieces), False])
            open_kinds.append("[")
        elif explicit_weight is not None and round_starts:
            multiply_from(round_starts.pop(), float(explicit_weight))
            close("(")
        elif token == ")" and round_starts:
            multiply_from(round_starts.pop(), ROUND_MULTIPLIER)
            close("(")
        elif token == "]" and square_starts:
            start, is_editing = square_starts.pop()
            if not is_editing:
                multiply_from(start, SQUARE_MULTIPLIER)
            close("[")
        else:
            if token in (":", "|") and open_kinds and open_kinds[-1] == "[":
                square_starts[-1][1] = True
            pieces.append([token, 1.0])
    if require_closed and (round_starts or square_starts):
        return None
    for start in reversed(round_starts):
        multiply_from(start, ROUND_MULTIPLIER)
    for start, is_editing in reversed(square_starts):
        if not is_editing:
            multiply_from(start, SQUARE_MULTIPLIER)
    return pieces


def _phrases_from_pieces(pieces: list[list]) -> list[WeightedPhrase]:
    """Join pieces into phrases at separators; a phrase weighs what its first word weighs."""
    if len(pieces) == 1:  # no emphasis anywhere: the common case is all C-level work
        only_weight = round(pieces[0][1], 4)
        return [
            WeightedPhrase(phrase, only_weight)
            for phrase in map(clean_phrase, _SEPARATOR.split(pieces[0][0]))
            if phrase
        ]
    phrases: list[WeightedPhrase] = []
    current: list[str] = []
    weight: float | None = None
    for piece_text, piece_weight in pieces:
        parts = _SEPARATOR.split(piece_text)
        for index, part in enumerate(parts):
            if index:
                if phrase := clean_phrase("".join(current)):
                    phrases.append(WeightedPhrase(phrase, round(weight or 1.0, 4)))
                current.clear()
                weight = None
            if weight is None and part.strip(_EDGE_PUNCTUATION):
                weight = piece_weight
            current.append(part)
    if phrase := clean_phrase("".join(current)):
        phrases.append(WeightedPhrase(phrase, round(weight or 1.0, 4)))
    return phrases


# Prompts repeat their phrases endlessly ("masterpiece", "long hair"): remember the work.
@lru_cache(maxsize=1 << 17)
def clean_phrase(text: str) -> str:
    """Lower-case, single-spaced, without wrapping punctuation; "" if only numbers remain.

    Booru-style tags (`looking_at_viewer`) read as words; tags with digits
    (`score_8_up`, `ng_deepnegative_v1_75t`) are names and stay as written.
    """
    phrase = text.casefold()
    for opening, closing in _BRACKET_PAIRS:
        # Leftovers of emphasis syntax ("stray) close") are not part of the phrase.
        if (opening in phrase or closing in phrase) and phrase.count(opening) != phrase.count(
            closing
        ):
            phrase = phrase.replace(opening, " ").replace(closing, " ")
    phrase = " ".join(phrase.split()).strip(_EDGE_PUNCTUATION)
    if " " not in phrase and "_" in phrase and not any(ch.isdigit() for ch in phrase):
        phrase = " ".join(phrase.replace("_", " ").split())
    if not phrase or _NUMBER.fullmatch(phrase):
        return ""
    return phrase


def concept_words(phrase: str) -> list[str]:
    """The words of a phrase that carry meaning: no stop-words, no bare numbers."""
    return [word for word in _WORD.findall(phrase) if _is_meaningful(word)]


def _is_meaningful(word: str) -> bool:
    return (
        word not in STOP_WORDS
        and not _NUMBER.fullmatch(word)
        and (len(word) > 1 or _CJK.match(word) is not None)
    )


@lru_cache(maxsize=1 << 17)
def phrase_concepts(phrase: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(meaningful words, multi-word concepts) of one cleaned phrase.

    A short phrase (2..MAX_PHRASE_WORDS words) is a concept as written; a
    longer one is a sentence and gives its pairs of adjacent meaningful words.
    """
    all_words = _WORD.findall(phrase)
    meaningful = [_is_meaningful(word) for word in all_words]
    words = tuple(word for word, keep in zip(all_words, meaningful, strict=True) if keep)
    if 2 <= len(all_words) <= MAX_PHRASE_WORDS:
        return words, ((phrase,) if words else ())
    if len(all_words) > MAX_PHRASE_WORDS:
        pairs = tuple(
            f"{all_words[i]} {all_words[i + 1]}"
            for i in range(len(all_words) - 1)
            if meaningful[i] and meaningful[i + 1]
        )
        return words, pairs
    return words, ()


def prompt_concepts(phrases: Iterable[WeightedPhrase]) -> tuple[set[str], set[str]]:
    """(words, multi-word concepts) of one prompt, each once."""
    words: set[str] = set()
    multi: set[str] = set()
    for phrase in phrases:
        phrase_words, phrase_multi = phrase_concepts(phrase.text)
        words.update(phrase_words)
        multi.update(phrase_multi)
    return words, multi


class ConceptCounter:
    """Counts, over many prompts, in how many prompts each word and phrase appears.

    Prompts are collected into flat lists and counted once at the end: one
    C-level count instead of a dictionary update per word keeps 100,000
    prompts fast. Weights are kept only where they differ from 1.
    """

    def __init__(self) -> None:
        self.prompts = 0
        self._words: list[str] = []
        self._phrases: list[str] = []
        self._networks: list[str] = []
        self._repeated: list[tuple[list[str], list[str], list[str], int]] = []
        self._weight_offsets: dict[str, float] = {}  # sum of (weight - 1) per phrase

    def add(self, prompt: str | None, times: int = 1) -> None:
        """Count one prompt text (`times` images used exactly this text)."""
        if not prompt or times < 1:
            return
        # The same as reading parse_prompt(prompt).phrases, chunk by remembered chunk.
        text, found_networks = _take_networks_and_keywords(prompt)
        self.prompts += times
        # Transposed in one C-level step: every chunk's words, concepts, emphasis.
        chunk_words, chunk_concepts, chunk_emphasis = zip(*_prompt_concepts(text), strict=True)
        words = set().union(*chunk_words)
        concepts = set().union(*chunk_concepts)
        networks = {n.name.casefold() for n in found_networks} if found_networks else ()
        # A concept emphasised anywhere in the prompt counts at its first emphasis.
        emphasis: dict[str, float] = {}
        for pairs in filter(None, chunk_emphasis):  # most chunks have no emphasis
            for concept, weight in pairs:
                emphasis.setdefault(concept, weight)
        for concept, weight in emphasis.items():
            offset = (weight - 1.0) * times
            self._weight_offsets[concept] = self._weight_offsets.get(concept, 0.0) + offset
        if times == 1:
            self._words.extend(words)
            self._phrases.extend(concepts)
            self._networks.extend(networks)
        else:
            self._repeated.append((list(words), list(concepts), list(networks), times))

    def counts(self) -> tuple[Counter[str], Counter[str], Counter[str]]:
        """(words, phrases, networks), each mapped to the number of prompts holding it."""
        words, phrases, networks = (
            Counter(self._words),
            Counter(self._phrases),
            Counter(self._networks),
        )
        for repeated_words, repeated_phrases, repeated_networks, times in self._repeated:
            for counter, items in (
                (words, repeated_words),
                (phrases, repeated_phrases),
                (networks, repeated_networks),
            ):
                for item in items:
                    counter[item] += times
        return words, phrases, networks

    def top(self, limit: int) -> dict[str, list[dict[str, object]]]:
        words, phrases, networks = self.counts()
        return {
            "words": [{"text": t, "count": c} for t, c in _most_common(words, limit)],
            "phrases": [
                {
                    "text": text,
                    "count": count,
                    "average_weight": round(1.0 + self._weight_offsets.get(text, 0.0) / count, 3),
                }
                for text, count in _most_common(phrases, limit)
            ],
            "networks": [{"name": n, "count": c} for n, c in _most_common(networks, limit)],
        }


def _most_common(counter: Counter[str], limit: int) -> list[tuple[str, int]]:
    """Highest count first, then alphabetical, so equal counts come out the same every time."""
    return heapq.nsmallest(limit, counter.items(), key=lambda item: (-item[1], item[0]))
