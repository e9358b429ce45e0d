"""``notify:`` in the config: the Apprise URLs a run reports to and the kinds of news it sends."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

NOTICE_KINDS = ("review", "alerts", "failures")


class NotifyConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    urls: tuple[str, ...] = Field(min_length=1)
    """Apprise URLs (``mailto://``, ``slack://``, ``json://`` …); they may hold secrets, so
    they are only ever shown as :func:`shown_url` has them."""
    on: tuple[Literal["review", "alerts", "failures"], ...] = NOTICE_KINDS

    @field_validator("urls")
    @classmethod
    def _apprise_understands(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for number, url in enumerate(urls, 1):
            if service_of(url) is None:
                raise ValueError(f"URL {number} ({shown_url(url)}) is not an Apprise URL that can be sent to "
                                 "(e.g. mailto://user:password@example.com, slack://..., json://host/path)")
        return urls


def service_of(url: str):
    """Apprise's sender for ``url``, or ``None`` when Apprise does not understand it."""
    from apprise import Apprise

    return Apprise.instantiate(url.strip(), suppress_exceptions=True)


def shown_url(url: str) -> str:
    """``url`` as it may be printed: Apprise's private form (passwords as ``****``, tokens
    cut to their first and last letter), without options; for a URL Apprise does not
    understand, only its scheme."""
    service = service_of(url)
    if service is None:
        return url.strip().partition("://")[0] + "://…"
    return service.url(privacy=True).split("?", 1)[0]
