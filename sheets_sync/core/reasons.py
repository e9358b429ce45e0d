"""Reason codes for returns and the free text clients type for them (SPEC §2.3)."""

from __future__ import annotations

import re
from functools import lru_cache

DEFECT_REASONS = (
    "wrong_number", "disconnected", "duplicate", "out_of_area",
    "wrong_vertical", "missing_fields", "fake_info", "no_consent",
)
OUTCOME_REASONS = ("did_not_convert", "no_answer", "slow_contact", "changed_mind", "not_interested")
REASON_CODES = DEFECT_REASONS + OUTCOME_REASONS

_BUILT_IN_ALIASES = {
    "wrong_number": ["wrong #", "wrong no", "wrong num", "bad number", "bad phone", "bad #", "invalid number",
                     "invalid phone", "wrong phone", "incorrect number", "wrong phone number", "not their number"],
    "disconnected": ["disconnected line", "disconnected number", "number disconnected", "not in service",
                     "out of service", "line disconnected", "dead line", "dead number", "number not in service",
                     "no longer in service"],
    "duplicate": ["dupe", "dup", "duplicate lead", "already received", "sent twice", "same lead twice"],
    "out_of_area": ["outside area", "out of territory", "outside service area", "wrong area", "wrong zip",
                    "out of state", "not in area"],
    "wrong_vertical": ["wrong product", "wrong category", "not looking for this", "wrong service"],
    "missing_fields": ["missing info", "incomplete", "missing data", "incomplete lead", "missing fields"],
    "fake_info": ["fake", "fake name", "fake lead", "bogus", "junk", "spam", "test lead", "fraud", "fraudulent",
                  "prank", "fake email"],
    "no_consent": ["no consent", "did not request", "never requested", "didn't ask", "did not opt in",
                   "never opted in", "no opt in", "no optin", "never asked", "did not sign up", "never signed up"],
    "did_not_convert": ["no sale", "didn't buy", "did not buy", "not converted", "no conversion"],
    "no_answer": ["no answer", "no response", "never answered", "voicemail", "unreachable", "no pick up"],
    "slow_contact": ["called too late", "contacted late", "too slow"],
    "changed_mind": ["changed their mind", "no longer interested", "cancelled"],
    "not_interested": ["not interested", "uninterested", "said not interested"],
}


@lru_cache(maxsize=4096)  # every request's reason is looked up; the texts repeat
def normalise_alias(text: str) -> str:
    """Fold reason text so ``"Wrong #"``, ``" wrong  # "`` and ``"WRONG_#"`` look alike."""
    return re.sub(r"[\s_\-]+", " ", text.strip().casefold()).strip(" .!")


BUILT_IN_ALIASES: dict[str, str] = {
    normalise_alias(alias): code for code, aliases in _BUILT_IN_ALIASES.items() for alias in aliases
} | {normalise_alias(code): code for code in REASON_CODES}


def reason_label(code: str) -> str:
    """A reason code in plain words, as clients see it: ``wrong_number`` -> ``Wrong number``.
    Read back through :func:`normalise_alias`, the label maps to its code again."""
    return code.replace("_", " ").capitalize()


def reason_code(text: str, configured_aliases: dict[str, str]) -> str | None:
    """The code a client's reason text means, or ``None`` when nobody can tell."""
    key = normalise_alias(text)
    return configured_aliases.get(key) or BUILT_IN_ALIASES.get(key)
