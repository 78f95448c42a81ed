"""Preflight: free checks of a storyboard against its brief, the brand kit and the
platform, before any paid render. The storyboard worker runs it on what it drew (made
or refined) and sends the report with `storyboard.completed`, where the headlines'
layouts are already measured; the gateway runs it after every edit, inside the request,
and on a storyboard that arrives without a report. It is pure and fast (the slowest
part, laying headlines out, is cached per scene design).

What it checks, in what every variation shows and says (`shared.checks.onscreen`):
- claims: risky wording and sensitive categories, from the reviewed rules in
  `claims.toml` (`shared.checks.claims`);
- the brand kit: banned words anywhere, and every disclaimer on screen long enough to be
  read (`shared.creative.disclaimers.reading_time_s`, the rule that places them);
- the platform (`platforms.toml`): the storyboard's length, each headline's length;
- text fit: each headline and the end card's call to action fit their boxes at the
  smallest readable size (`shared.checks.textfit`; in the style's own face: brand fonts
  live in storage, which a pure check does not read).

Findings are ordered by scene (the storyboard-wide ones first), then check, so the same
storyboard always gives the same report.

Example::

    report = preflight(request, storyboard)
    report.status                         # "fail"
    report.errors[0].check, report.errors[0].scene   # ("claims.medical", 2)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from shared.checks.claims import ClaimRule, claim_rules, find_claims, phrase_pattern, plain
from shared.checks.findings import Finding, PreflightReport
from shared.checks.onscreen import Said, on_screen_lines, screens, seen_and_heard
from shared.checks.textfit import fit_findings
from shared.creative.disclaimers import reading_time_s
from shared.creative.platforms import platform_spec
from shared.models import GenerationRequest, Storyboard

# Scene lengths are tenths of a second; less than this is rounding, not an edit.
LENGTH_TOLERANCE_S = 0.05


def preflighted(request: GenerationRequest, storyboard: Storyboard) -> PreflightReport:
    """The storyboard's preflight, stamped now."""
    return preflight(request, storyboard).model_copy(update={"checked_at": datetime.now(UTC)})


def preflight(request: GenerationRequest, storyboard: Storyboard) -> PreflightReport:
    """Every finding about `storyboard` made for `request`."""
    said = seen_and_heard(request, storyboard)
    findings = [
        *_claims(said, _disclosed(request, storyboard)),
        *_banned_words(said, request.brand.banned_words),
        *_disclaimers(request, storyboard),
        *_length(request, storyboard),
        *_headline_lengths(request, said),
        *fit_findings(screens(request, storyboard), request.variations),
    ]
    findings.sort(key=lambda f: (f.scene or 0, f.check, f.message))
    return PreflightReport.of(findings)


def _disclosed(request: GenerationRequest, storyboard: Storyboard) -> bool:
    """Whether the ad carries legal lines at all. Whether they are on screen long enough
    is the disclaimer check's; whether their wording covers a claim no rule can tell, so
    the claim findings then ask the marketer to make sure."""
    return bool(request.brand.disclaimers) or any(s.disclaimers for s in storyboard.scenes)


def _claims(said: Iterable[Said], disclosed: bool) -> list[Finding]:
    """One finding per scene and rule, naming its phrases and where they are."""
    found: dict[tuple[int, str], tuple[ClaimRule, list[str], list[str]]] = {}
    for item in said:
        for match in find_claims(claim_rules(), item.text):
            _, phrases, places = found.setdefault(
                (item.scene, match.rule.check), (match.rule, [], [])
            )
            if match.phrase.lower() not in (p.lower() for p in phrases):
                phrases.append(match.phrase)
            places.extend(w for w in item.where if w not in places)
    return [
        Finding(
            check=rule.check,
            severity=rule.severity_for(disclosed),
            scene=scene,
            message=f"{_says(places)} {_quoted(phrases)}. {rule.advice_for(disclosed)}",
        )
        for (scene, _), (rule, phrases, places) in found.items()
    ]


def _banned_words(said: Iterable[Said], banned: Sequence[str]) -> list[Finding]:
    patterns = [(word, pattern) for word in banned if (pattern := phrase_pattern([word]))]
    found: dict[tuple[int, str], list[str]] = {}
    for item in said:
        for word, pattern in patterns:
            if pattern.search(plain(item.text)):
                places = found.setdefault((item.scene, word), [])
                places.extend(w for w in item.where if w not in places)
    return [
        Finding(
            check="brand.banned_word",
            severity="error",
            scene=scene,
            message=f'{_says(places)} "{word}", which the brand kit bans. Reword it.',
        )
        for (scene, word), places in found.items()
    ]


def _disclaimers(request: GenerationRequest, storyboard: Storyboard) -> list[Finding]:
    """Each brand disclaimer on screen for its reading time. Lines shown together are read
    together, so the time needed is that of every line on the scenes that carry it."""
    findings = []
    for line in request.brand.disclaimers:
        carrying = [s for s in storyboard.scenes if line in s.disclaimers]
        block = list(dict.fromkeys(other for s in carrying for other in s.disclaimers))
        needed = reading_time_s(" ".join(block or [line]))
        shown = sum(s.duration_s for s in carrying)
        if shown + 1e-6 >= needed:
            continue
        if not carrying:
            message = (
                f'The disclaimer "{line}" is not on screen; it needs {needed:.1f} s to be '
                "read. Make the storyboard again to place it on the closing scenes."
            )
        else:
            others = len(block) - 1
            together = f" with {others} other legal line{'s' * (others > 1)}" if others else ""
            message = (
                f'The disclaimer "{line}" is on screen {shown:.1f} s{together}; it needs '
                f"{needed:.1f} s to be read. Lengthen the scenes that show it, or shorten it."
            )
        findings.append(
            Finding(
                check="brand.disclaimer",
                severity="error",
                scene=carrying[0].index if carrying else None,
                message=message,
            )
        )
    return findings


def _length(request: GenerationRequest, storyboard: Storyboard) -> list[Finding]:
    delivery = platform_spec(request.platform.value).delivery
    name = platform_spec(request.platform.value).title
    total = storyboard.duration_s
    limits = f"{delivery.min_duration_s:g}–{delivery.max_duration_s:g} s"
    if total > delivery.max_duration_s + LENGTH_TOLERANCE_S:
        cut = total - delivery.max_duration_s
        return [
            Finding(
                check="platform.duration",
                severity="error",
                message=f"The storyboard runs {total:.1f} s; {name} takes {limits}. Shorten or "
                f"remove scenes to cut {cut:.1f} s.",
            )
        ]
    if total < delivery.min_duration_s - LENGTH_TOLERANCE_S:
        add = delivery.min_duration_s - total
        return [
            Finding(
                check="platform.duration",
                severity="error",
                message=f"The storyboard runs {total:.1f} s; {name} takes {limits}. Lengthen "
                f"scenes to add {add:.1f} s.",
            )
        ]
    if abs(total - request.duration_s) > LENGTH_TOLERANCE_S:
        return [
            Finding(
                check="storyboard.duration",
                severity="info",
                message=f"The storyboard runs {total:.1f} s; the brief asked for "
                f"{request.duration_s} s, and the estimate was made for that.",
            )
        ]
    return []


def _headline_lengths(request: GenerationRequest, said: Iterable[Said]) -> list[Finding]:
    delivery = platform_spec(request.platform.value).delivery
    name = platform_spec(request.platform.value).title
    limit = delivery.headline_max_chars
    findings = []
    for item in said:
        where = on_screen_lines(item)
        if where and len(item.text) > limit:
            findings.append(
                Finding(
                    check="platform.headline_length",
                    severity="error",
                    scene=item.scene,
                    message=f'The {_listed(where)} "{item.text}" has {len(item.text)} '
                    f"characters; {name} shows at most {limit}. Shorten it.",
                )
            )
    return findings


def _says(places: Sequence[str]) -> str:
    """'The headline says' / 'The headline and voice-over say'."""
    return f"The {_listed(places)} {'says' if len(places) == 1 else 'say'}"


def _quoted(phrases: Sequence[str]) -> str:
    return _listed([f'"{phrase}"' for phrase in phrases])


def _listed(places: Sequence[str]) -> str:
    if len(places) == 1:
        return places[0]
    return ", ".join(places[:-1]) + f" and {places[-1]}"
