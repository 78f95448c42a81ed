"""The claim rules (`claims.toml`, reviewed data) and how their phrases are found in text.

A phrase matches as whole words in any case: "best" is found in "The best serum" and in
"best-selling", never in "bestseller"; a hyphen or spaces between a phrase's words match
either. Where a longer phrase covers a shorter one in the same text ("guaranteed cure"
over "guaranteed"), only the longer one counts, so one risky phrase gives one finding.

Example::

    rules = claim_rules()
    [(m.rule.check, m.phrase) for m in find_claims(rules, "A guaranteed cure!")]
    # [("claims.medical", "guaranteed cure")]
    find_phrases(["cheap"], "Cheap-looking? Never.")          # ["Cheap"]
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.checks.findings import Severity

CLAIMS_FILE = Path(__file__).with_name("claims.toml")

# Between a phrase's words: spaces, or a hyphen ("risk-free" = "risk free").
_JOIN = r"[\s\-\u2010\u2011]+"
_SPLIT = re.compile(r"[\s\-\u2010\u2011]+")
# Typographic quotes as typed on phones (U+2019), so "world\u2019s best" is "world's best".
_PLAIN = str.maketrans({"\u2019": "'", "\u2018": "'", "\uff03": "#"})


class ClaimRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: str = Field(pattern=r"^claims\.[a-z_]+$")
    severity: Severity
    requires_disclaimer: bool = False
    disclosed_severity: Severity | None = None
    phrases: list[str] = Field(min_length=1)
    advice: str = Field(min_length=1)
    disclosed_advice: str | None = None

    @model_validator(mode="after")
    def _disclosure_complete(self) -> ClaimRule:
        if self.requires_disclaimer and (
            self.disclosed_severity is None or not self.disclosed_advice
        ):
            raise ValueError(
                "a rule that requires a disclaimer needs disclosed_severity and disclosed_advice"
            )
        return self

    def severity_for(self, disclosed: bool) -> Severity:
        if disclosed and self.requires_disclaimer and self.disclosed_severity is not None:
            return self.disclosed_severity
        return self.severity

    def advice_for(self, disclosed: bool) -> str:
        if disclosed and self.requires_disclaimer and self.disclosed_advice:
            return self.disclosed_advice
        return self.advice


class _ClaimsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    wording: dict[str, ClaimRule] = Field(default_factory=dict)
    category: dict[str, ClaimRule] = Field(default_factory=dict)


@dataclass(frozen=True)
class ClaimRules:
    """The rules of one file, each with its phrases compiled into one pattern."""

    version: str
    rules: tuple[tuple[ClaimRule, re.Pattern[str]], ...]


@dataclass(frozen=True)
class ClaimMatch:
    rule: ClaimRule
    phrase: str  # as written in the text
    start: int
    end: int


def load_claim_rules(path: Path = CLAIMS_FILE) -> ClaimRules:
    """The rules in `path` (ValueError naming the problem when the file is unusable)."""
    try:
        data = _ClaimsFile.model_validate(tomllib.loads(path.read_text()))
    except (OSError, tomllib.TOMLDecodeError, ValueError) as error:
        raise ValueError(f"claim rules {path.name}: {error}") from error
    rules = [*data.wording.values(), *data.category.values()]
    checks = [rule.check for rule in rules]
    if len(set(checks)) != len(checks):
        raise ValueError(f"claim rules {path.name}: each rule needs its own check name")
    compiled = ((rule, phrase_pattern(rule.phrases)) for rule in rules)
    return ClaimRules(
        data.version, tuple((rule, pattern) for rule, pattern in compiled if pattern is not None)
    )


@cache
def claim_rules() -> ClaimRules:
    """The reviewed rules shipped beside this module (read once per process)."""
    return load_claim_rules(CLAIMS_FILE)


def phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern finding any of `phrases` as whole words, longest first (None when
    there are none)."""
    joined = (
        _JOIN.join(re.escape(word) for word in _SPLIT.split(phrase.translate(_PLAIN)) if word)
        for phrase in phrases
    )
    bodies = sorted({body for body in joined if body}, key=len, reverse=True)
    if not bodies:
        return None
    return re.compile(rf"(?<!\w)(?:{'|'.join(bodies)})(?!\w)", re.IGNORECASE)


def plain(text: str) -> str:
    """`text` as the patterns read it (typographic apostrophes made plain)."""
    return text.translate(_PLAIN)


def find_phrases(phrases: Iterable[str], text: str) -> list[str]:
    """Each occurrence of any of `phrases` in `text`, as written there."""
    pattern = phrase_pattern(phrases)
    if pattern is None:
        return []
    return [match.group(0) for match in pattern.finditer(plain(text))]


def find_claims(rules: ClaimRules, text: str) -> list[ClaimMatch]:
    """Every rule's phrases found in `text`, in reading order; a match inside a longer
    one (of any rule) is dropped."""
    read = plain(text)
    found = [
        ClaimMatch(rule, match.group(0), match.start(), match.end())
        for rule, pattern in rules.rules
        for match in pattern.finditer(read)
    ]
    kept: list[ClaimMatch] = []
    for match in sorted(found, key=lambda m: (m.start - m.end, m.start)):
        if not any(k.start <= match.start and match.end <= k.end for k in kept):
            kept.append(match)
    return sorted(kept, key=lambda m: m.start)
