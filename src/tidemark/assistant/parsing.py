"""Question understanding without a model: a question in plain English becomes a Plan.

The reader works in steps; each step blanks the words it understood, so later
steps do not read them again:

1. Account names written in full ("TechCorp Solutions"), so that a name such as
   "Last Mile Logistics" is not read as a time phrase.
2. The time phrase, resolved in the tenant's zone (:mod:`.timephrases`).
3. People named as a filter: "managed by Sarah Chen", "whose CSM is Maria Santos",
   "owned by Tom Becker", "Which accounts does John Smith manage?".
4. Account mentions, best first: the exact name (case-insensitive) > a name that
   starts with the mention ("Acme" → "Acme Corp") > a name containing every word
   of the mention > a close spelling (difflib ratio ≥ 0.85 per word, "Techcorp
   Solutons"). Possessives are dropped ("TechCorp's"); Thai names match as
   substrings. A mention needs a word that is not a common word, so "health",
   "accounts" or "corp" never name an account. Two accounts that match equally
   well give an ambiguity problem naming both.
5. Vocabulary (:mod:`.vocabulary`): fields and their synonyms, statuses, tiers,
   regions, industries, comparisons and numbers; then the conditions they form
   ("health below 60", "more than 5 critical KPIs", "enterprise accounts",
   "at risk", "not active", "80 or more") and a limit ("top 5").
6. The intent:

   ============= ===============================================================
   NOTES         a notes or report word ("notes", "discuss", "mentioning",
                 "playbook reports"). ``topic``: quoted words, the words after
                 "about"/"mentioning"/"regarding"/..., or the words left over.
                 ``field``: recent_csm_note_ids (notes only),
                 recent_playbook_report_ids (reports only) or None (both).
   HISTORY       an account and "history", "trend", "timeline", ...
   CHANGE        an account and a change word ("change", "improve", "drop", ...);
                 ``direction`` from the word.
   ASSIGNMENTS   an account, no time phrase, and an assignment field or verb
                 (CSM, manager, owner, products, playbooks; "who owns", "what
                 does ... use"). ``field`` is the one asked about, or None (all).
   VALUE_AS_OF   an account and a field; an account and nothing else reads the
                 whole snapshot (``field`` None).
   RANKED_CHANGE no account, "accounts" or a ranking word, and a change word.
                 Without a field it ranks the overall health score; conditions
                 ("Which enterprise accounts improved?") filter the accounts.
   MATCHING      no account and conditions, or "all accounts".
   ============= ===============================================================

Windows, by intent. VALUE_AS_OF reads the value as it stood at ``window.end``:
the close of a month or quarter ("last month", "in March"; the whole period is
kept in the window), the end of a day in the tenant's zone ("on 2025-01-15"),
or a moment ("a year ago"); without a time phrase, now (``window`` None). A
range ("over the past 90 days") turns it into a HISTORY. CHANGE and
RANKED_CHANGE compare ``window.start`` with ``window.end``; a moment M becomes
[M, now] and no time phrase the past 30 days. MATCHING tests its conditions as
of ``window.end``. NOTES searches inside the window; a moment becomes its day.
Otherwise a question without a time phrase leaves ``window`` None (now, or the
whole history), and the caller applies its default.

``problems`` says plainly what could not be mapped: an unknown or ambiguous
account, an unknown field, a date that does not exist or is still ahead, a
condition without a field, or a question with no intent. Nothing is guessed: a
plan with problems is not answerable.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Final, NamedTuple

from tidemark.assistant import vocabulary as vocab
from tidemark.assistant.plan import AccountRef, Condition, Direction, Intent, Plan, Window
from tidemark.assistant.timephrases import (
    Shape,
    TimePhrase,
    TimePhraseError,
    day_window,
    find_time_phrase,
    resolve_time_phrase,
    zone_of,
)
from tidemark.clock import ensure_utc
from tidemark.snapshots.fields import FIELD_BY_NAME, Kind

#: The window of a CHANGE or RANKED_CHANGE question that names no time.
DEFAULT_CHANGE_PHRASE: Final = "the past 30 days"
#: The field ranked when a ranked-change question names none.
DEFAULT_RANKED_FIELD: Final = "overall_health_score"
#: Longest question read, in characters.
MAX_QUESTION: Final = 2000
#: Notes and reports, as the plan's ``field`` of a NOTES question.
NOTES_FIELD: Final = "recent_csm_note_ids"
REPORTS_FIELD: Final = "recent_playbook_report_ids"

_ACCOUNT_INTENTS: Final = frozenset(
    {Intent.VALUE_AS_OF, Intent.CHANGE, Intent.HISTORY, Intent.ASSIGNMENTS}
)
_BLANK: Final = "\x1f"
_SPAN: Final = re.compile(r"[^\s\x1f]+")
#: A name with nothing to strip from its words.
_PLAIN: Final = re.compile(r"[^\W_]+(?:[ &-]+[^\W_]+)*")
_QUOTES: Final = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})
_LEADING: Final = "\"'([{<*"
_TRAILING: Final = "\"')]}>*"
_CLAUSE: Final = ".,;:!?"
_NUMBER: Final = re.compile(
    r"[$€£฿]?(?P<n>\d{1,3}(?:,\d{3})+|\d+)(?P<f>\.\d+)?(?P<mult>k|mm|m|bn|b)?%?", re.IGNORECASE
)
_THAI: Final = re.compile(r"[\u0e00-\u0e7f]")
_MAX_MENTION: Final = 8
#: Records a candidate account: (name index, tier, score).
_Offer = Callable[[int, int, float], None]
_FUZZY: Final = 0.85
_CLOSE_CACHE: Final = 10_000
_NUMERIC: Final = frozenset({Kind.INT, Kind.DECIMAL})
#: Words allowed between a field and its comparison: "health is below 60".
_LINKS: Final = frozenset(
    {
        "is", "was", "are", "were", "be", "been", "being", "of", "at", "currently", "stayed",
        "stays", "remained", "remains", "sits", "sat", "has", "have", "had", "with", "a", "an",
        "the", "now", "still", "their", "its", "dropped", "fell", "fallen", "rose", "risen",
        "climbed", "went", "gone", "got", "slipped", "moved", "stood", "stands",
    }
)  # fmt: skip
_EQUALS: Final = frozenset({"is", "was", "are", "were", "of", "=", "equals", "at", ":"})
_TEXT_CONDITION_FIELDS: Final = frozenset(
    {
        "account_tier", "industry", "region", "lifecycle_stage", "onboarding_status",
        "champion_status", "primary_product", "account_status",
    }
)  # fmt: skip
#: "managed by X", "owned by X": the person filters, any case.
_BY_CUES: Final[dict[tuple[str, ...], str]] = {
    ("managed", "by"): "assigned_csm",
    ("handled", "by"): "assigned_csm",
    ("covered", "by"): "assigned_csm",
    ("looked", "after", "by"): "assigned_csm",
    ("assigned", "to"): "assigned_csm",
    ("owned", "by"): "account_owner",
}
#: "whose CSM is X", "with owner X": a capitalised name after a team field.
_ROLE_CUES: Final[dict[tuple[str, ...], str]] = {
    ("csm",): "assigned_csm",
    ("assigned", "csm"): "assigned_csm",
    ("customer", "success", "manager"): "assigned_csm",
    ("csm", "manager"): "csm_manager",
    ("manager",): "csm_manager",
    ("owner",): "account_owner",
    ("account", "owner"): "account_owner",
    ("champion",): "primary_champion",
}
#: "Which accounts does X manage?"
_DOES_VERBS: Final[dict[str, str]] = {
    "manage": "assigned_csm",
    "handle": "assigned_csm",
    "cover": "assigned_csm",
    "own": "account_owner",
}
_LIMIT_WORDS: Final = frozenset({"top", "bottom", "first", "best", "worst"})
_NOTE_ONLY: Final = vocab.NOTE_WORDS - {"mention", "mentioned", "mentioning", "mentions"}
_TOPIC_SKIP: Final = (
    vocab.STOPWORDS
    | vocab.NOTE_WORDS
    | vocab.REPORT_WORDS
    | vocab.TOPIC_MARKERS
    | vocab.PLURAL_SUBJECTS
    | vocab.SINGULAR_SUBJECTS
    | {"playbook", "playbooks", "csm", "word", "words", "text", "containing", "anything"}
)


def parse(
    question: str,
    *,
    accounts: Sequence[tuple[int, str]],
    now: datetime,
    timezone: str = "UTC",
) -> Plan:
    """What ``question`` asks, against the tenant's ``accounts`` (id, name) at ``now``.

    Time phrases are resolved in ``timezone`` (an IANA name) and returned in UTC.
    Raises InvalidInput for an unknown time zone; everything else the question
    gets wrong is in the plan's ``problems``.
    """
    zone_of(timezone)
    plan = _Reader(question, accounts, ensure_utc(now), timezone).plan()
    future = _FUTURE.search(question)
    if future is not None:
        # The history only knows the past: "next month" must not fall back to today's value.
        problem = f'"{future.group(0)}" asks about the future; the history only records the past.'
        return replace(plan, problems=(*plan.problems, problem))
    return plan


#: Phrases that ask about what has not happened yet.
_FUTURE = re.compile(
    r"\b(next (?:week|month|quarter|year)|tomorrow|in the future|will \w+(?:'s)? \w+ be"
    r"|will be|going to be|forecast\w*|predict\w*)\b",
    re.IGNORECASE,
)


# ----------------------------------------------------------------------------- tokens


class _Token(NamedTuple):
    """A word of the question without surrounding punctuation or a possessive."""

    text: str
    word: str
    start: int
    end: int
    possessive: bool
    clause_end: bool


def _lower(text: str) -> str:
    """Lower-case without changing the length, so offsets stay valid."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)


def _clean(raw: str) -> tuple[str, int, bool, bool]:
    """A raw word without quotes, brackets, punctuation or a possessive.

    Returns the word, how many characters were cut in front, whether it was
    possessive, and whether clause punctuation followed it.
    """
    core = raw.lstrip(_LEADING)
    word = core.rstrip(_TRAILING + _CLAUSE)
    trail = core[len(word) :]
    possessive = trail[:1] == "'" and word[-1:] in ("s", "S")  # "Acme Corps'"
    if len(word) > 2 and word[-2] == "'" and word[-1] in ("s", "S"):  # "TechCorp's"
        word, possessive = word[:-2], True
    return word, len(raw) - len(core), possessive, any(ch in _CLAUSE for ch in trail)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for match in _SPAN.finditer(text):
        word, cut, possessive, clause_end = _clean(match.group())
        if word:
            start = match.start() + cut
            tokens.append(
                _Token(word, _lower(word), start, start + len(word), possessive, clause_end)
            )
    return tokens


def _name_words(name: str) -> tuple[str, ...]:
    """The words of an account name, as :func:`_tokenize` would read them."""
    if _PLAIN.fullmatch(name):
        return tuple(_lower(name).split())
    return tuple(_lower(w) for w in (_clean(raw)[0] for raw in name.split()) if w)


def _gap_between(text: str, before: _Token, after: _Token) -> bool:
    return before.clause_end or _BLANK in text[before.end : after.start]


def _distinctive(word: str) -> bool:
    """A word that can tell one account from another (not "health", "corp", "5")."""
    return word not in vocab.COMMON_WORDS and any(ch.isalpha() for ch in word)


# ----------------------------------------------------------------------------- accounts


class _Name(NamedTuple):
    account_id: int
    name: str
    words: tuple[str, ...]
    #: Lower-case name and its core without บริษัท/จำกัด, for names in Thai.
    thai: str | None
    thai_core: str | None


@dataclass(slots=True)
class _Hit:
    """A stretch of the question that names one or more accounts equally well."""

    start: int
    end: int
    tier: int  # 1 exact, 2 prefix, 3 all words, 4 close spelling
    candidates: dict[int, float]  # name index -> score


class _Directory:
    """The tenant's account names, indexed for each matching tier."""

    def __init__(self, accounts: Iterable[tuple[int, str]]) -> None:
        self.names: list[_Name] = []
        self.by_word: dict[str, set[int]] = defaultdict(set)
        self.by_words: dict[tuple[str, ...], set[int]] = defaultdict(set)
        self.by_compact: dict[str, set[tuple[int, int]]] = defaultdict(set)
        self.thai: list[int] = []
        for account_id, name in accounts:
            words = _name_words(name)
            if not words:
                continue
            index = len(self.names)
            thai = core = None
            if _THAI.search(name):
                thai = " ".join(_lower(name).split())
                kept = [w for w in thai.split() if w not in vocab.CORPORATE_WORDS]
                core = " ".join(kept) if kept and len("".join(kept)) >= 3 else None
                self.thai.append(index)
            self.names.append(_Name(account_id, name, words, thai, core))
            self.by_words[words].add(index)
            for word in words:
                self.by_word[word].add(index)
            for n in range(2, len(words) + 1):
                self.by_compact["".join(words[:n])].add((index, n))
        # Words a close spelling can reach, by (first or last letter, length).
        self._spellings: dict[tuple[str, int], list[str]] = defaultdict(list)
        for word in self.by_word:
            if len(word) >= 4:
                self._spellings[word[0], len(word)].append(word)
                if word[-1] != word[0]:
                    self._spellings[word[-1], len(word)].append(word)
        self._close: dict[tuple[str, float], list[str]] = {}

    def find(self, text: str, *, exact_only: bool) -> list[_Hit]:
        """Every stretch of ``text`` that names an account, best tier first, not overlapping."""
        hits = self._thai_hits(text, exact_only=exact_only)
        tokens = _tokenize(text)
        segments: list[list[_Token]] = []
        for i, token in enumerate(tokens):
            if i == 0 or _gap_between(text, tokens[i - 1], token):
                segments.append([])
            segments[-1].append(token)
        for segment in segments:
            for i in range(len(segment)):
                for j in range(i, min(i + _MAX_MENTION, len(segment))):
                    words = tuple(t.word for t in segment[i : j + 1])
                    found = self.match(words, exact_only=exact_only)
                    if found is not None:
                        tier, candidates = found
                        hits.append(_Hit(segment[i].start, segment[j].end, tier, candidates))
                    if segment[j].possessive:
                        break  # "TechCorp's health": the name ends at the possessive
        hits.sort(key=lambda h: (h.tier, -(h.end - h.start), h.start))
        chosen: list[_Hit] = []
        for hit in hits:
            if all(hit.end <= c.start or hit.start >= c.end for c in chosen):
                chosen.append(hit)
        # A longer mention of the same account takes in a shorter one at a better
        # tier: "Techcorp Solutons" is one mention, not "Techcorp" and a stray word.
        for hit in sorted(hits, key=lambda h: h.start - h.end):
            overlapping = [c for c in chosen if not (hit.end <= c.start or hit.start >= c.end)]
            if overlapping and all(
                hit.start <= c.start
                and c.end <= hit.end
                and (c.end - c.start) < (hit.end - hit.start)
                and set(c.candidates) == set(hit.candidates)
                for c in overlapping
            ):
                chosen = [c for c in chosen if c not in overlapping] + [hit]
        return sorted(chosen, key=lambda h: h.start)

    def _thai_hits(self, text: str, *, exact_only: bool) -> list[_Hit]:
        hits: list[_Hit] = []
        if not self.thai or not _THAI.search(text):
            return hits
        lowered = _lower(text)
        for index in self.thai:
            name = self.names[index]
            for needle, tier in ((name.thai, 1), (None if exact_only else name.thai_core, 2)):
                start = lowered.find(needle) if needle else -1
                while needle and start >= 0:
                    score = 1.0 if tier == 1 else 0.9
                    hits.append(_Hit(start, start + len(needle), tier, {index: score}))
                    start = lowered.find(needle, start + 1)
        return hits

    def match(
        self, words: tuple[str, ...], *, exact_only: bool
    ) -> tuple[int, dict[int, float]] | None:
        """The best tier at which ``words`` name accounts, and the candidates at that tier."""
        distinct = any(_distinctive(w) for w in words)
        best: dict[int, tuple[int, float]] = {}

        def offer(index: int, tier: int, score: float) -> None:
            if index not in best or (tier, -score) < (best[index][0], -best[index][1]):
                best[index] = (tier, score)

        # A name made only of common words ("Global Health Group") is matched
        # when written in full; one common word ("Health") never is.
        if distinct or len(words) > 1:
            for index in self.by_words.get(words, ()):
                offer(index, 1, 1.0)
        compact = "".join(words)
        if len(words) > 1 and (distinct or _distinctive(compact)):
            firsts = {
                (i, 1) for i in self.by_word.get(compact, ()) if self.names[i].words[0] == compact
            }
            for index, n in firsts | self.by_compact.get(compact, set()):
                size = len(self.names[index].words)
                if n == size:
                    offer(index, 1, 0.97)
                elif not exact_only:
                    offer(index, 2, 0.9 + 0.09 * n / size)
        if exact_only or not distinct:
            return _best_tier(best)
        sets = [self.by_word.get(w) for w in words]
        if all(sets):
            pools = sorted((s for s in sets if s is not None), key=len)
            for index in pools[0].intersection(*pools[1:]):
                name = self.names[index]
                coverage = len(words) / len(name.words)
                if name.words[: len(words)] == words:
                    offer(index, 2, 0.9 + 0.09 * coverage)
                elif not Counter(words) - Counter(name.words):
                    offer(index, 3, 0.8 + 0.09 * coverage)
        if not best:
            self._fuzzy(words, offer)
        return _best_tier(best)

    def _close_words(self, word: str, cutoff: float = _FUZZY) -> list[str]:
        """Name words spelled like ``word`` (ratio ≥ cutoff), keeping its first or last letter."""
        key = (word, cutoff)
        if key not in self._close:
            if len(self._close) > _CLOSE_CACHE:
                self._close.clear()
            found: list[str] = []
            if len(word) >= 4 and _distinctive(word):
                # ratio = 2·matches / (len a + len b) can reach the cutoff only
                # for lengths within these bounds.
                low = math.ceil(len(word) * cutoff / (2 - cutoff))
                high = math.floor(len(word) * (2 - cutoff) / cutoff)
                pool = {
                    w
                    for size in range(low, high + 1)
                    for letter in {word[0], word[-1]}
                    for w in self._spellings.get((letter, size), ())
                }
                found = difflib.get_close_matches(word, sorted(pool), n=5, cutoff=cutoff)
            self._close[key] = found
        return self._close[key]

    def _fuzzy(self, words: tuple[str, ...], offer: _Offer) -> None:
        options: list[dict[str, float]] = []
        for word in words:
            choices = {word: 1.0} if word in self.by_word else {}
            for close in self._close_words(word):
                choices.setdefault(close, difflib.SequenceMatcher(None, word, close).ratio())
            if not choices:
                return
            options.append(choices)
        pools = sorted((set().union(*(self.by_word[c] for c in o)) for o in options), key=len)
        for index in pools[0].intersection(*pools[1:]):
            free = Counter(self.names[index].words)
            ratios: list[float] = []
            picks: list[str] = []
            for choices in options:
                ranked = sorted(choices.items(), key=lambda kv: -kv[1])
                pick = next((c for c, _ in ranked if free[c] > 0), None)
                if pick is None:
                    break
                free[pick] -= 1
                picks.append(pick)
                ratios.append(choices[pick])
            # The mention must land on a word that tells accounts apart: a
            # misspelt "Solutons" alone names no account.
            if len(ratios) == len(words) and min(ratios) < 1.0 and any(map(_distinctive, picks)):
                average = sum(ratios) / len(ratios)
                offer(index, 4, 0.6 + 0.2 * (average - _FUZZY) / (1 - _FUZZY))

    def suggestions(self, mention: str) -> list[str]:
        """Names with a word close to a word of an unmatched mention ("did you mean")."""
        found: list[str] = []
        for token in _tokenize(mention):
            for close in self._close_words(token.word, cutoff=0.7):
                for index in sorted(self.by_word[close]):
                    name = self.names[index].name
                    if name not in found:
                        found.append(name)
        return found[:3]


def _best_tier(best: dict[int, tuple[int, float]]) -> tuple[int, dict[int, float]] | None:
    """The best tier among candidates, with every candidate as good as the best at it."""
    if not best:
        return None
    tier = min(t for t, _ in best.values())
    top = max(s for t, s in best.values() if t == tier)
    # Within a tier every candidate is as good as the next; a close spelling is
    # only as good as another when their word ratios are within 0.02.
    margin = 0.02 * 0.2 / (1 - _FUZZY) if tier == 4 else 1.0
    return tier, {i: s for i, (t, s) in best.items() if t == tier and top - s <= margin}


@functools.lru_cache(maxsize=8)
def _directory(accounts: tuple[tuple[int, str], ...]) -> _Directory:
    """The directory of an account list; built once per distinct list."""
    return _Directory(accounts)


def _directory_of(accounts: Sequence[tuple[int, str]]) -> _Directory:
    return _directory(tuple((int(i), str(name)) for i, name in accounts))


# ----------------------------------------------------------------------------- vocabulary


@dataclass(slots=True)
class _Item:
    """A unit of meaning: a field, a value, a comparison, a number or a plain word."""

    kind: str  # field status tier region industry op bound number neg word unknown
    value: str | Decimal
    text: str
    words: tuple[str, ...]
    start: int
    end: int
    gap_before: bool
    possessive: bool = False
    used: bool = False


def _phrase_table() -> dict[tuple[str, ...], tuple[str, str]]:
    table: dict[tuple[str, ...], tuple[str, str]] = {}
    for kind, entries in (
        ("op", vocab.COMPARISONS),
        ("bound", vocab.TRAILING_BOUNDS),
        ("industry", vocab.INDUSTRY_VALUES),
        ("region", vocab.REGION_VALUES),
        ("tier", vocab.TIER_VALUES),
        ("status", vocab.STATUS_VALUES),
        ("field", vocab.FIELD_SYNONYMS),
    ):
        for phrase, value in entries.items():
            table[tuple(phrase.split())] = (kind, value)
    return table


_PHRASES: Final = _phrase_table()
_LONGEST: Final = max(len(k) for k in _PHRASES)


def _number(word: str) -> Decimal | None:
    if word in vocab.NUMBER_WORDS:
        return Decimal(vocab.NUMBER_WORDS[word])
    match = _NUMBER.fullmatch(word)
    if match is None:
        return None
    value = Decimal(match["n"].replace(",", "") + (match["f"] or ""))
    if match["mult"]:
        value *= vocab.MULTIPLIERS[match["mult"].lower()]
    return _plain(value)


def _plain(value: Decimal) -> Decimal:
    """1500000.0 as 1500000: whole numbers without a fraction part."""
    whole = value.to_integral_value()
    return whole if whole == value else value


def _lex(text: str, question: str) -> list[_Item]:
    """The items of the (blanked) question text, longest vocabulary phrase first."""
    tokens = _tokenize(text)
    units: list[tuple[str, _Token, bool]] = []
    for i, token in enumerate(tokens):
        gap = i == 0 or _gap_between(text, tokens[i - 1], token)
        parts = [token.word] if _number(token.word) is not None else token.word.split("-")
        for k, part in enumerate(p for p in parts if p):
            units.append((part, token, gap and k == 0))
    items: list[_Item] = []
    p = 0
    while p < len(units):
        word, token, gap = units[p]
        width, kind, value = 1, "word", word
        number = _number(word)
        if number is not None:
            kind, value = "number", ""
            nxt = units[p + 1] if p + 1 < len(units) else None
            if nxt and not nxt[2] and nxt[0] in vocab.MULTIPLIERS and word[-1].isdigit():
                number = _plain(number * vocab.MULTIPLIERS[nxt[0]])
                width = 2
        else:
            for size in range(min(_LONGEST, len(units) - p), 0, -1):
                if any(units[p + k][2] for k in range(1, size)):
                    continue
                key = tuple(u[0] for u in units[p : p + size])
                if key in _PHRASES:
                    width, (kind, value) = size, _PHRASES[key]
                    break
            else:
                thai = next((t for t in vocab.THAI_FIELD_SYNONYMS if t in word), None)
                if thai is not None:
                    kind, value = "field", vocab.THAI_FIELD_SYNONYMS[thai]
                elif word in vocab.NEGATIONS or word.endswith("n't"):
                    kind = "neg"
        last = units[p + width - 1][1]
        items.append(
            _Item(
                kind,
                number if number is not None else value,
                question[token.start : last.end],
                tuple(u[0] for u in units[p : p + width]),
                token.start,
                last.end,
                gap,
                possessive=last.possessive,
            )
        )
        p += width
    return _mark_unknown_heads(items)


def _mark_unknown_heads(items: list[_Item]) -> list[_Item]:
    """ "banana score" is an unknown field, not the health score."""
    out: list[_Item] = []
    for item in items:
        previous = out[-1] if out else None
        if (
            item.kind == "field"
            and len(item.words) == 1
            and item.words[0] in vocab.GENERIC_HEADS
            and not item.gap_before
            and previous is not None
            and previous.kind == "word"
            and _distinctive(previous.words[0])
            and not previous.possessive
        ):
            out[-1] = _Item(
                "unknown",
                f"{previous.text} {item.text}",
                f"{previous.text} {item.text}",
                previous.words + item.words,
                previous.start,
                item.end,
                previous.gap_before,
            )
            continue
        out.append(item)
    return out


# ----------------------------------------------------------------------------- reader


@dataclass(slots=True)
class _Found:
    """The accounts a question names, and whether a mention was ambiguous."""

    refs: list[tuple[int, AccountRef]] = field(default_factory=list)  # (position, ref)
    ambiguous: bool = False


class _Reader:
    """Reads one question, step by step (see the module docstring)."""

    def __init__(
        self, question: str, accounts: Sequence[tuple[int, str]], now: datetime, timezone: str
    ) -> None:
        self.question = question
        self.chars = list(question.translate(_QUOTES))
        self.now = now
        self.timezone = timezone
        self.directory = _directory_of(accounts)
        self.problems: list[str] = []
        self.conditions: list[tuple[int, Condition]] = []  # (position, condition)
        self.found = _Found()
        self.time: TimePhrase | None = None

    # -- text

    @property
    def text(self) -> str:
        return "".join(self.chars)

    def blank(self, start: int, end: int) -> None:
        self.chars[start:end] = _BLANK * (end - start)

    def blank_name(self, start: int, end: int) -> None:
        """Blank a name with the possessive after it ("TechCorp's")."""
        tail = "".join(self.chars[end : end + 2]).lower()
        if tail == "'s":
            end += 2
        elif tail[:1] == "'":
            end += 1
        self.blank(start, end)

    # -- steps

    def plan(self) -> Plan:
        if not self.question.strip():
            return Plan(None, self.question, problems=("The question is empty.",))
        if len(self.question) > MAX_QUESTION:
            too_long = f"The question is longer than {MAX_QUESTION} characters; ask a shorter one."
            return Plan(None, self.question, problems=(too_long,))
        self.read_accounts(exact_only=True)
        self.read_time()
        self.read_people()
        self.read_accounts(exact_only=False)
        items = _lex(self.text, self.question)
        limit = self.read_limit(items)
        self.read_conditions(items)
        return self.decide(items, limit)

    def read_accounts(self, *, exact_only: bool) -> None:
        for hit in self.directory.find(self.text, exact_only=exact_only):
            mention = self.question[hit.start : hit.end]
            self.blank_name(hit.start, hit.end)
            names = [self.directory.names[i] for i in hit.candidates]
            if len({n.account_id for n in names}) > 1:
                self.found.ambiguous = True
                self.problems.append(_ambiguity(mention, names))
                continue
            index, score = max(hit.candidates.items(), key=lambda kv: kv[1])
            name = self.directory.names[index]
            if any(ref.account_id == name.account_id for _, ref in self.found.refs):
                continue
            ref = AccountRef(name.account_id, name.name, mention, round(score, 3))
            self.found.refs.append((hit.start, ref))

    def read_time(self) -> None:
        try:
            self.time = find_time_phrase(self.text, now=self.now, timezone=self.timezone)
        except TimePhraseError as error:
            self.problems.append(f"{error}.")
            self.blank(error.start, error.end)
            return
        if self.time is not None:
            self.blank(self.time.start, self.time.end)

    def read_people(self) -> None:
        tokens = _tokenize(self.text)
        words = [t.word for t in tokens]
        i = 0
        while i < len(tokens):
            taken = self._person_at(tokens, words, i)
            i = taken if taken is not None else i + 1

    def _person_at(self, tokens: list[_Token], words: list[str], i: int) -> int | None:
        """Read a person filter starting at token ``i``; the index after it, or None."""
        for cues, capitalised in ((_BY_CUES, False), (_ROLE_CUES, True)):
            for cue in sorted(cues, key=len, reverse=True):
                if tuple(words[i : i + len(cue)]) != cue:
                    continue
                start = i + len(cue)
                if capitalised and start < len(tokens) and words[start] in ("is", "=", ":"):
                    start += 1
                end = self._name_end(tokens, start, capitalised=capitalised)
                if end > start and self._take_person(tokens[start:end], cues[cue]):
                    return end
        if words[i] in ("does", "do", "did") and i + 1 < len(tokens):
            end = self._name_end(tokens, i + 1, capitalised=True)
            if (
                i + 1 < end < len(tokens)
                and words[end] in _DOES_VERBS
                and self._take_person(tokens[i + 1 : end], _DOES_VERBS[words[end]])
            ):
                return end + 1
        return None

    def _name_end(self, tokens: list[_Token], start: int, *, capitalised: bool) -> int:
        end = start
        while end < len(tokens) and end - start < 4:
            token = tokens[end]
            if end > start and _gap_between(self.text, tokens[end - 1], token):
                break
            if token.word in vocab.NAME_STOPS or not any(ch.isalpha() for ch in token.word):
                break
            first = token.text[0]
            if capitalised and first.isascii() and not first.isupper():
                break
            end += 1
            if token.clause_end or token.possessive:
                break
        return end

    def _take_person(self, tokens: list[_Token], field_name: str) -> bool:
        words = tuple(t.word for t in tokens)
        if self.directory.match(words, exact_only=False) is not None:
            return False  # an account, not a person: "assigned to TechCorp"
        start, end = tokens[0].start, tokens[-1].end
        self.conditions.append((start, Condition(field_name, "=", self.question[start:end])))
        self.blank_name(start, end)
        return True

    def read_limit(self, items: list[_Item]) -> int | None:
        """ "top 5", "bottom 3", "5 accounts"."""
        for k, item in enumerate(items):
            nxt = items[k + 1] if k + 1 < len(items) else None
            if nxt is None or nxt.gap_before:
                continue
            count: _Item | None = None
            if item.kind == "word" and item.words[0] in _LIMIT_WORDS and nxt.kind == "number":
                count = nxt
            elif item.kind == "number" and nxt.kind == "word":
                count = item if nxt.words[0] in vocab.PLURAL_SUBJECTS else None
            limit = None if count is None else _whole(count.value)
            if count is not None and limit is not None:
                count.used = True
                return limit
        return None

    def read_conditions(self, items: list[_Item]) -> None:
        for k, item in enumerate(items):
            if item.used:
                continue
            if item.kind == "field" and _is_numeric(item):
                self._numeric_after_field(items, k)
            elif item.kind == "op" or (item.kind == "number" and _next(items, k, "bound")):
                self._numeric_before_field(items, k)
            elif item.kind == "word" and item.words[0] in ("no", "zero", "without"):
                target = _next(items, k, "field")
                if target is not None and _is_numeric(target) and not target.used:
                    self._add(item, Condition(str(target.value), "=", Decimal(0)), target)
            elif item.kind == "status":
                op = "!=" if _negated(items, k) else "="
                self._add(item, Condition("account_status", op, str(item.value)))
            elif item.kind == "region":
                self._add(item, Condition("region", "=", str(item.value)))
            elif item.kind in ("tier", "industry"):
                name = "account_tier" if item.kind == "tier" else "industry"
                if _value_in_context(items, k, name):
                    self._add(item, Condition(name, "=", str(item.value)))
                else:  # "revenue growth" is not the Growth tier
                    item.kind, item.value = "word", item.words[0]
            elif item.kind == "field" and item.value in _TEXT_CONDITION_FIELDS:
                self._text_after_field(items, k)
        for k, item in enumerate(items):
            if item.kind == "op" and not item.used and _next(items, k, "number"):
                self.problems.append(
                    f'The condition "{item.text}" names no field it applies to '
                    '(such as "health below sixty").'
                )

    def _add(self, at: _Item, condition: Condition, *others: _Item) -> None:
        at.used = True
        for other in others:
            other.used = True
        self.conditions.append((at.start, condition))

    def _numeric_after_field(self, items: list[_Item], k: int) -> None:
        q = k + 1
        linked = False
        while q < len(items) and items[q].kind == "word" and items[q].words[0] in _LINKS:
            linked = linked or items[q].words[0] in _EQUALS
            q += 1
        op: str | None = None
        if q < len(items) and items[q].kind == "op" and not items[q].used:
            op, q = str(items[q].value), q + 1
        if q >= len(items) or items[q].kind != "number" or items[q].used:
            return
        number = items[q]
        bound = items[q + 1] if q + 1 < len(items) and items[q + 1].kind == "bound" else None
        if op is None and bound is not None:
            op = str(bound.value)
        elif op is None and linked:
            op = "="
        if op is None:
            return
        parts = [items[j] for j in range(k + 1, q + 1)] + ([bound] if bound else [])
        self._add(items[k], Condition(str(items[k].value), op, _decimal(number.value)), *parts)

    def _numeric_before_field(self, items: list[_Item], k: int) -> None:
        q, op = k, None
        if items[q].kind == "op":
            op, q = str(items[q].value), q + 1
        if q >= len(items) or items[q].kind != "number" or items[q].used:
            return
        number = items[q]
        parts = [items[j] for j in range(k, q + 1)]
        r = q + 1
        if r < len(items) and items[r].kind == "bound":
            op = op or str(items[r].value)
            parts.append(items[r])
            r += 1
        target = items[r] if r < len(items) else None
        if op and target and target.kind == "field" and _is_numeric(target) and not target.used:
            self._add(target, Condition(str(target.value), op, _decimal(number.value)), *parts)

    def _text_after_field(self, items: list[_Item], k: int) -> None:
        q = k + 1
        if q >= len(items) or items[q].kind != "word" or items[q].words[0] not in _EQUALS:
            return
        q += 1
        if q < len(items) and items[q].kind in ("tier", "industry", "region", "status"):
            target = items[q]
            value = str(target.value)
        else:
            end = q
            while end < len(items) and items[end].kind == "word" and not items[end].gap_before:
                if items[end].words[0] in vocab.STOPWORDS:
                    break
                end += 1
            if end == q:
                return
            target = items[end - 1]
            value = self.question[items[q].start : target.end]
            for j in range(q, end - 1):
                items[j].used = True
        self._add(items[k], Condition(str(items[k].value), "=", value), target, items[k + 1])

    # -- intent

    def decide(self, items: list[_Item], limit: int | None) -> Plan:
        words = [i.words[0] for i in items if i.kind == "word" and not i.used]
        cues = set(words)
        all_words = {w for i in items for w in i.words}
        refs = [ref for _, ref in sorted(self.found.refs, key=lambda pr: pr[0])]
        conditions = tuple(c for _, c in sorted(self.conditions, key=lambda pc: pc[0]))
        fields = [str(i.value) for i in items if i.kind == "field" and not i.used]
        field_name = fields[0] if fields else None
        unknown = [i.text for i in items if i.kind == "unknown"]
        leftovers = [p for p in _leftovers(items) if p not in unknown]
        movers = ("went", "go", "gone", "going", "goes")
        improve = bool(cues & vocab.IMPROVE_WORDS) or _after(words, movers, "up")
        decline = bool(cues & vocab.DECLINE_WORDS) or _after(words, movers, "down")
        changes = improve or decline or bool(cues & vocab.CHANGE_WORDS)
        history = bool(cues & vocab.HISTORY_WORDS) or _after(words, ("over",), "time")
        ranks = bool(cues & vocab.RANK_WORDS) or limit is not None
        plural = bool(cues & vocab.PLURAL_SUBJECTS)
        which_one = _after(words, ("which", "what"), *vocab.SINGULAR_SUBJECTS)
        verb_fields = [vocab.ASSIGNMENT_VERBS[w] for w in words if w in vocab.ASSIGNMENT_VERBS]
        about_one = not plural and not which_one and not conditions
        direction = Direction.ANY
        if improve and not decline:
            direction = Direction.IMPROVED
        elif (decline and not improve) or cues & {"worst", "bottom"}:
            direction = Direction.DECLINED

        intent: Intent | None = None
        topic: str | None = None
        if all_words & (vocab.NOTE_WORDS | vocab.REPORT_WORDS):
            intent, topic = Intent.NOTES, self.topic()
            reports = bool(all_words & vocab.REPORT_WORDS)
            notes = bool(all_words & _NOTE_ONLY)
            field_name = REPORTS_FIELD if reports and not notes else None
            field_name = NOTES_FIELD if notes and not reports else field_name
            unknown = []
        elif refs or (
            about_one
            and not (ranks and changes)
            and (field_name or unknown or changes or history or verb_fields)
        ):
            if history:
                intent = Intent.HISTORY
            elif changes:
                intent = Intent.CHANGE
            elif field_name in vocab.ASSIGNMENT_FIELDS or (field_name is None and verb_fields):
                field_name = field_name or next((f for f in verb_fields if f), None)
                intent = Intent.ASSIGNMENTS if self.time is None else Intent.VALUE_AS_OF
            else:
                intent = Intent.VALUE_AS_OF
                if field_name is None and conditions:
                    field_name = conditions[0].field
        elif plural or which_one or ranks or conditions:
            if changes:
                intent = Intent.RANKED_CHANGE
                if field_name is None and not unknown:
                    field_name = DEFAULT_RANKED_FIELD
                if which_one and limit is None:
                    limit = 1
            elif conditions or cues & vocab.EVERY_WORDS:
                intent = Intent.MATCHING
            else:
                self.problems.append(
                    "The question asks about accounts but names no condition (such as "
                    '"health below sixty", "at risk" or "enterprise") and no change to rank.'
                )

        if intent in _ACCOUNT_INTENTS and not refs and not self.found.ambiguous:
            leftovers = self.no_account(leftovers)
        if intent in (Intent.VALUE_AS_OF, Intent.CHANGE, Intent.HISTORY) and field_name is None:
            unknown += leftovers[:1]
        for phrase in unknown:
            self.problems.append(_unknown_field(phrase))
        if intent is None and not self.problems:
            self.problems.append(_not_understood(leftovers))

        window = self.window_for(intent)
        if intent is Intent.VALUE_AS_OF and self.time and self.time.shape is Shape.RANGE:
            intent = Intent.HISTORY
        moving = intent in (Intent.CHANGE, Intent.RANKED_CHANGE)
        return Plan(
            intent=intent,
            question=self.question,
            accounts=tuple(refs),
            field=field_name,
            window=window,
            direction=direction if moving else Direction.ANY,
            conditions=conditions,
            topic=topic,
            limit=limit,
            problems=tuple(self.problems),
        )

    def window_for(self, intent: Intent | None) -> Window | None:
        phrase = self.time
        if phrase is None:
            if intent in (Intent.CHANGE, Intent.RANKED_CHANGE):
                return resolve_time_phrase(
                    DEFAULT_CHANGE_PHRASE, now=self.now, timezone=self.timezone
                )
            return None
        window = phrase.window
        if (window.start is not None and window.start > self.now) or window.end > self.now:
            local = self.now.astimezone(zone_of(self.timezone)).date().isoformat()
            self.problems.append(
                f'"{window.phrase}" is after now ({local}); there is no history for it yet.'
            )
            return window
        if phrase.shape is Shape.MOMENT:
            if intent in (Intent.CHANGE, Intent.RANKED_CHANGE, Intent.HISTORY):
                return Window(window.end, self.now, window.phrase)
            if intent is Intent.NOTES:
                return day_window(window.end, timezone=self.timezone, phrase=window.phrase)
        return window

    def topic(self) -> str | None:
        text = self.text
        quoted = re.search(r'"([^"\x1f]+)"', text)
        if quoted and quoted.group(1).strip():
            return quoted.group(1).strip()
        tokens = _tokenize(text)
        for i, token in enumerate(tokens):
            if token.word not in vocab.TOPIC_MARKERS:
                continue
            taken: list[str] = []
            for j in range(i + 1, len(tokens)):
                if _gap_between(text, tokens[j - 1], tokens[j]):
                    break
                if tokens[j].word not in _TOPIC_SKIP:
                    taken.append(tokens[j].text)
            if taken:
                return " ".join(taken)
        rest = [t.text for t in tokens if t.word not in _TOPIC_SKIP]
        return " ".join(rest) if rest else None

    def no_account(self, leftovers: list[str]) -> list[str]:
        """Report the missing account; the leftovers not used to name it."""
        if not leftovers:
            self.problems.append("The question does not name an account.")
            return leftovers
        mention = leftovers[0]
        problem = f'No account matches "{mention}".'
        close = self.directory.suggestions(mention)
        if close:
            problem += " Did you mean " + " or ".join(close) + "?"
        self.problems.append(problem)
        return leftovers[1:]


# ----------------------------------------------------------------------------- helpers


def _whole(value: str | Decimal) -> int | None:
    if isinstance(value, Decimal) and value == value.to_integral_value() and 1 <= value <= 1000:
        return int(value)
    return None


def _decimal(value: str | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def _is_numeric(item: _Item) -> bool:
    spec = FIELD_BY_NAME.get(str(item.value))
    return spec is not None and spec.kind in _NUMERIC


def _next(items: list[_Item], k: int, kind: str) -> _Item | None:
    nxt = items[k + 1] if k + 1 < len(items) else None
    return nxt if nxt is not None and nxt.kind == kind and not nxt.gap_before else None


def _negated(items: list[_Item], k: int) -> bool:
    """A negation just before ``items[k]``: "not active", "aren't at risk"."""
    for j in range(k - 1, max(k - 3, -1), -1):
        if items[j].kind == "neg":
            return True
        if items[j].kind != "word" or items[j].words[0] not in _LINKS:
            return False
    return False


def _value_in_context(items: list[_Item], k: int, field_name: str) -> bool:
    """A tier or industry word is one only next to "accounts", its field, or after "in"."""
    nxt = items[k + 1] if k + 1 < len(items) else None
    if nxt is not None and not nxt.gap_before:
        if nxt.kind == "word" and nxt.words[0] in vocab.PLURAL_SUBJECTS | vocab.SINGULAR_SUBJECTS:
            return True
        if nxt.kind == "field" and nxt.value == field_name:
            nxt.used = True
            return True
    j = k - 1
    while j >= 0 and items[j].kind == "word" and items[j].words[0] in ("is", "=", "the", "are"):
        j -= 1
    if j >= 0 and items[j].kind == "field" and items[j].value == field_name:
        items[j].used = True
        return True
    return field_name == "industry" and k > 0 and items[k - 1].words[-1] in ("in", "the")


def _after(words: list[str], first: Iterable[str], *second: str) -> bool:
    """``words`` has one of ``first`` directly followed by one of ``second``."""
    heads = set(first)
    return any(a in heads and b in second for a, b in itertools.pairwise(words))


def _leftovers(items: list[_Item]) -> list[str]:
    """The phrases nothing understood, as written; a possessive ends a phrase."""
    phrases: list[str] = []
    current: list[_Item] = []

    def close() -> None:
        if current:
            phrases.append(" ".join(i.text for i in current))
            current.clear()

    for item in items:
        free = item.kind == "word" and not item.used
        content = item.kind == "unknown" or (
            free
            and (
                _distinctive(item.words[0])
                or (bool(current) and item.words[0] in vocab.CORPORATE_WORDS)
            )
        )
        if not content or item.gap_before:
            close()
        if content:
            current.append(item)
            if item.possessive:
                close()
    close()
    return phrases


def _ambiguity(mention: str, names: list[_Name]) -> str:
    counts = Counter(n.name for n in names)
    labels = sorted(
        {f"{n.name} (id {n.account_id})" if counts[n.name] > 1 else n.name for n in names}
    )
    shown = ", ".join(labels[:5]) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
    return f'"{mention}" matches more than one account: {shown}. Say which one.'


def _unknown_field(phrase: str) -> str:
    return (
        f'No field called "{phrase}". Known fields include health score, revenue (ARR), '
        "status, tier, CSM, owner, critical KPIs, products and playbooks."
    )


def _not_understood(leftovers: list[str]) -> str:
    message = (
        "The question could not be understood. Ask about an account's field at a time, "
        "a change, a history, which accounts match a condition, assignments, or notes."
    )
    if leftovers:
        message += " Not recognised: " + ", ".join(f'"{w}"' for w in leftovers[:5]) + "."
    return message


def match_account(mention: str, accounts: Sequence[tuple[int, str]]) -> AccountRef | None:
    """The one account ``mention`` names, by the rules of :func:`parse`; None if none or several."""
    directory = _directory_of(accounts)
    text = mention.translate(_QUOTES)
    found: dict[int, AccountRef] = {}
    for exact_only in (True, False):
        for hit in directory.find(text, exact_only=exact_only):
            names = {
                directory.names[i].account_id: (directory.names[i], s)
                for i, s in hit.candidates.items()
            }
            if len(names) != 1:
                return None
            ((account_id, (name, score)),) = names.items()
            found.setdefault(
                account_id,
                AccountRef(account_id, name.name, mention[hit.start : hit.end], round(score, 3)),
            )
            text = text[: hit.start] + _BLANK * (hit.end - hit.start) + text[hit.end :]
    return next(iter(found.values())) if len(found) == 1 else None
