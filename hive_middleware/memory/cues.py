"""Entity/attribute cues: small, rule-based fact extraction from one statement.

A *cue* says "this text states the value of ``attribute`` for ``entity``"
(``Cue("alice", "email", "a@x.org")``), or, when ``negated``, that it no longer
holds. Conflict resolution uses cues to tell an update ("Alice moved to Berlin"
after "Alice lives in Paris") from a new fact, and episodic consolidation groups
episodes by them. No model is involved: the rules below are the whole contract.

Rules, tried in order on each sentence (case-insensitive; entities, attributes
and values are case-folded and whitespace-collapsed, a leading "the" dropped):

1. Negation. ``X no longer Y``, ``X is no longer Y``, ``X is not Y anymore``,
   ``X isn't Y``, ``X does not / doesn't Y anymore`` are rewritten to the
   positive statement (``X Y``, ``X is Y``) which is then matched by rules 2-7;
   the resulting cue has ``negated=True``. A negated sentence no rule matches
   still yields a cue with ``attribute="*"`` and the positive text as value.
2. Possessive: ``X's <attribute> is|are|was|were|has been|became [now] <value>``.
3. Of-form: ``[the] <attribute> of X is|are|was [now] <value>``.
4. Colon: ``[X's] <subject>: <value>`` with a subject of 2-4 words; the
   subject's last word is the attribute and the words before it the entity
   (``"project deadline: May 3"`` -> ``("project", "deadline", "may 3")``). A
   one-word subject (``Note:``, ``Error:``, ``https:``) is a label, not a fact.
5. Verb table: ``moved to``, ``relocated to``, ``lives in``, ``is based in``,
   ``is located in`` -> ``location``; ``works at|for``, ``is employed by``,
   ``joined`` -> ``employer``; ``is married to`` -> ``spouse``; ``is called``,
   ``is named`` -> ``name``.
6. ``X is|are now <value>`` -> attribute ``state`` ("is now" marks a change).
7. Two-word subject: ``[the] <entity> <attribute> is|are <value>``
   (``"the project deadline is May 3"``), or ``my|our|your|his|her|their
   <noun> [<noun>] is <value>`` (``"my name is Bob"`` -> ``("my", "name",
   "bob")``). Pronoun-like first words (``this``, ``it``, ``what``...) never
   become entities.

Sentences longer than :data:`DEFAULT_MAX_CUE_CHARS` are not parsed: a long
sentence is narrative, and a rule that fires on it would be a guess.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "DEFAULT_MAX_CUE_CHARS",
    "Cue",
    "extract_cues",
    "normalize_text",
    "positive_form",
    "single_cue",
]

DEFAULT_MAX_CUE_CHARS = 200
"""Longest sentence the cue rules look at."""

_WS = re.compile(r"\s+")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+|\n+")
_TRAILING = " \t.!?;,"
_COPULA = r"(?:is|are|was|were|has been|have been|became|becomes)"

_NEGATIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(?P<s>.+?)\s+(?P<cop>is|are|was|were)\s+no\s+longer\s+(?P<r>.+)$", re.I), r"\g<s> \g<cop> \g<r>"),
    (re.compile(r"^(?P<s>.+?)\s+(?P<cop>is|are|was|were)\s+not\s+(?P<r>.+?)\s+any\s?more$", re.I), r"\g<s> \g<cop> \g<r>"),
    (re.compile(r"^(?P<s>.+?)\s+(?P<cop>is|are)n't\s+(?P<r>.+?)(?:\s+any\s?more)?$", re.I), r"\g<s> \g<cop> \g<r>"),
    (re.compile(r"^(?P<s>.+?)\s+(?:does|do|did)\s+not\s+(?P<r>.+?)\s+any\s?more$", re.I), r"\g<s> \g<r>"),
    (re.compile(r"^(?P<s>.+?)\s+(?:doesn't|don't|didn't)\s+(?P<r>.+?)(?:\s+any\s?more)?$", re.I), r"\g<s> \g<r>"),
    (re.compile(r"^(?P<s>.+?)\s+no\s+longer\s+(?P<r>.+)$", re.I), r"\g<s> \g<r>"),
)

_POSSESSIVE = re.compile(
    rf"^(?P<e>.+?)(?:'s|’s|s')\s+(?P<a>[\w -]{{1,40}}?)\s+{_COPULA}(?:\s+now)?\s+(?P<v>.+)$", re.I
)
_OF_FORM = re.compile(
    rf"^(?:the\s+)?(?P<a>[\w -]{{1,40}}?)\s+of\s+(?P<e>.+?)\s+{_COPULA}(?:\s+now)?\s+(?P<v>.+)$", re.I
)
_COLON = re.compile(r"^(?P<subj>[\w .'’-]{1,60}?)\s*:\s*(?P<v>.+)$")
# (pattern, attribute, substrings one of which the text must contain for the pattern to be tried)
_VERBS: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    (re.compile(r"^(?P<e>.+?)\s+(?:has\s+|have\s+)?(?:moved|relocated)\s+to\s+(?P<v>.+)$", re.I), "location",
     ("moved to", "relocated to")),
    (re.compile(r"^(?P<e>.+?)\s+(?:lives|live|lived)\s+in\s+(?P<v>.+)$", re.I), "location", ("live",)),
    (re.compile(r"^(?P<e>.+?)\s+(?:is|are)\s+(?:now\s+)?(?:based|located)\s+in\s+(?P<v>.+)$", re.I), "location",
     ("based in", "located in")),
    (re.compile(r"^(?P<e>.+?)\s+(?:now\s+)?(?:works|work|worked)\s+(?:at|for)\s+(?P<v>.+)$", re.I), "employer",
     ("work",)),
    (re.compile(r"^(?P<e>.+?)\s+(?:is|are)\s+(?:now\s+)?employed\s+by\s+(?P<v>.+)$", re.I), "employer",
     ("employed by",)),
    (re.compile(r"^(?P<e>.+?)\s+(?:has\s+)?joined\s+(?P<v>.+)$", re.I), "employer", ("joined",)),
    (re.compile(r"^(?P<e>.+?)\s+(?:is|was)\s+(?:now\s+)?married\s+to\s+(?P<v>.+)$", re.I), "spouse",
     ("married to",)),
    (re.compile(r"^(?P<e>.+?)\s+(?:is|are)\s+(?:now\s+)?(?:called|named)\s+(?P<v>.+)$", re.I), "name",
     ("called", "named")),
)
_IS_NOW = re.compile(r"^(?P<e>.+?)\s+(?:is|are)\s+now\s+(?P<v>.+)$", re.I)
_TWO_WORD = re.compile(
    r"^(?:(?P<d>the|my|our|your|his|her|their)\s+)?(?P<e>[\w-]+)\s+(?P<a>[\w-]+)\s+(?:is|are)\s+(?P<v>.+)$",
    re.I,
)
_NOT_ENTITIES = frozenset({"the", "a", "an", "this", "that", "it", "there", "here", "what", "which", "who", "how", "where"})
_MAX_COLON_SUBJECT_WORDS = 4
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.I)


@dataclass(frozen=True, slots=True)
class Cue:
    """One entity/attribute statement found in a text.

    Attributes:
        entity: Who or what the statement is about ("" when the text names none).
        attribute: Which property (``location``, ``email``...; ``*`` for an
            unparsed negated statement).
        value: The stated value.
        negated: True when the text says the value no longer holds.
    """

    entity: str
    attribute: str
    value: str
    negated: bool = False

    @property
    def slot(self) -> tuple[str, str]:
        """``(entity, attribute)``: what two cues must share to be about the same thing."""
        return (self.entity, self.attribute)

    @property
    def fact_key(self) -> str | None:
        """``fact:<entity>:<attribute>``, the memory key of this slot's current value.

        ``None`` for a negation, an unparsed (``*``) attribute or no entity: those
        state no value to hold.
        """
        if self.negated or self.attribute == "*" or not self.entity:
            return None
        return f"fact:{self.entity}:{self.attribute}"


@lru_cache(maxsize=16_384)
def normalize_text(text: str) -> str:
    """Case-fold, NFKC-normalise and collapse whitespace; strip trailing punctuation.

    Two contents with the same normal form are the same memory.
    """
    # NFKC again after casefold: folding can produce sequences NFKC would still change.
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold()).replace("’", "'")
    return _WS.sub(" ", folded).strip(_TRAILING)


def _clean(part: str) -> str:
    return _LEADING_ARTICLE.sub("", normalize_text(part)).strip(_TRAILING)


def positive_form(sentence: str) -> str | None:
    """The positive statement behind a negated sentence, or ``None`` if not negated.

    ``"Alice no longer works at Acme"`` -> ``"alice works at acme"``.
    """
    text = normalize_text(sentence)
    # Cheap substring gates first: the anchored patterns cost tens of microseconds each.
    if "no longer" not in text and " not " not in text and "n't " not in text:
        return None
    for pattern, template in _NEGATIONS:
        match = pattern.match(text)
        if match:
            return _WS.sub(" ", match.expand(template)).strip()
    return None


def _positive_cue(text: str) -> Cue | None:
    match = _POSSESSIVE.match(text) if ("'s " in text or "s' " in text) else None
    if match:
        return Cue(_clean(match["e"]), _clean(match["a"]), _clean(match["v"]))
    match = _OF_FORM.match(text) if " of " in text else None
    if match:
        return Cue(_clean(match["e"]), _clean(match["a"]), _clean(match["v"]))
    match = _COLON.match(text) if ":" in text else None
    if match:
        subject = _clean(match["subj"])
        if "'s " in subject:
            entity, _, attribute = subject.partition("'s ")
        else:
            entity, _, attribute = subject.rpartition(" ")
        if attribute and entity and len(subject.split()) <= _MAX_COLON_SUBJECT_WORDS:
            return Cue(entity.strip(), attribute.strip(), _clean(match["v"]))
    for pattern, attribute, gates in _VERBS:
        match = pattern.match(text) if any(g in text for g in gates) else None
        if match:
            return Cue(_clean(match["e"]), attribute, _clean(match["v"]))
    if " is " not in text and " are " not in text:
        return None
    match = _IS_NOW.match(text) if " now " in text else None
    if match and match["e"].lower() not in _NOT_ENTITIES:
        return Cue(_clean(match["e"]), "state", _clean(match["v"]))
    match = _TWO_WORD.match(text)
    if match:
        determiner = (match["d"] or "").lower()
        if determiner and determiner != "the":
            # "my phone number is 555": the possessive is the entity, both nouns the attribute.
            return Cue(determiner, f"{_clean(match['e'])} {_clean(match['a'])}", _clean(match["v"]))
        if match["e"].lower() not in _NOT_ENTITIES:
            return Cue(_clean(match["e"]), _clean(match["a"]), _clean(match["v"]))
    return None


def _sentence_cue(sentence: str) -> Cue | None:
    text = normalize_text(sentence)
    if not text or len(text) > DEFAULT_MAX_CUE_CHARS:
        return None
    positive = positive_form(text)
    if positive is None:
        return _positive_cue(text)
    cue = _positive_cue(positive)
    if cue is None:
        words = positive.split(" ", 1)
        return Cue(words[0], "*", positive, negated=True)
    return Cue(cue.entity, cue.attribute, cue.value, negated=True)


@lru_cache(maxsize=16_384)
def extract_cues(text: str) -> tuple[Cue, ...]:
    """Every cue of ``text``, one per sentence at most, in order.

    Args:
        text: Any content; split into sentences on ``. ! ? ;`` and newlines.

    Returns:
        The cues found (possibly none). Deterministic: the same text always
        gives the same cues.
    """
    cues: list[Cue] = []
    for sentence in _SENTENCE_SPLIT.split(text):
        cue = _sentence_cue(sentence)
        if cue is not None and cue.value:
            cues.append(cue)
    return tuple(cues)


def single_cue(text: str) -> Cue | None:
    """The cue of ``text`` when it states exactly one; ``None`` when zero or several.

    Conflict resolution acts only on unambiguous statements.
    """
    cues = extract_cues(text)
    return cues[0] if len(cues) == 1 else None
