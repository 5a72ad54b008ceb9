"""The Atom feed (RFC 4287) of CAP messages, newest first, paged as RFC 5005 describes.

Each entry carries its whole CAP message inline (``<content
type="application/cap+xml">``) and links to the same message as its own
document, so an aggregator can read the feed alone or fetch each alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from api.cap.message import CAP_MEDIA_TYPE, CAP_NS, cap_time

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE = "application/atom+xml"


@dataclass(frozen=True, slots=True)
class FeedEntry:
    alert: etree._Element
    href: str
    """The URL of the message as its own document: also the entry's id."""


@dataclass(frozen=True, slots=True)
class FeedLinks:
    current: str
    first: str
    next: str | None = None
    previous: str | None = None


def _atom(parent: etree._Element | None, tag: str, text: str | None = None,
          **attributes: str) -> etree._Element:
    name = f"{{{ATOM_NS}}}{tag}"
    element = (etree.Element(name, nsmap={None: ATOM_NS}) if parent is None
               else etree.SubElement(parent, name))
    for key, value in attributes.items():
        element.set(key, value)
    if text is not None:
        element.text = text
    return element


def _cap_text(alert: etree._Element, path: str, language: str | None = None) -> str | None:
    """A CAP element's text, from the ``<info>`` of ``language`` when given."""
    namespaces = {"cap": CAP_NS}
    scope = alert
    if language is not None:
        found = alert.xpath("cap:info[cap:language=$lang]", namespaces=namespaces, lang=language)
        if not found:
            return None
        scope = found[0]
    hit = scope.find(path, namespaces)
    return None if hit is None else hit.text


def atom_time(cap_sent: str) -> str:
    """CAP's ``-00:00`` UTC as RFC 3339's ``Z``."""
    return cap_sent[:-6] + "Z" if cap_sent.endswith("-00:00") else cap_sent


def build_feed(entries: list[FeedEntry], *, feed_id: str, title: str, sender: str,
               links: FeedLinks, now: datetime | None = None) -> etree._Element:
    """The feed element; ``updated`` is the newest message's sent time (or ``now`` if none)."""
    feed = _atom(None, "feed")
    _atom(feed, "id", feed_id)
    _atom(feed, "title", title)
    newest = _cap_text(entries[0].alert, "cap:sent") if entries else None
    _atom(feed, "updated", atom_time(newest) if newest else
          atom_time(cap_time(now or datetime.now(UTC))))
    author = _atom(feed, "author")
    _atom(author, "name", sender)
    _atom(feed, "link", rel="self", href=links.current, type=ATOM_MEDIA_TYPE)
    _atom(feed, "link", rel="first", href=links.first, type=ATOM_MEDIA_TYPE)
    if links.next:
        _atom(feed, "link", rel="next", href=links.next, type=ATOM_MEDIA_TYPE)
    if links.previous:
        _atom(feed, "link", rel="previous", href=links.previous, type=ATOM_MEDIA_TYPE)
    for entry in entries:
        _entry(feed, entry)
    return feed


def _entry(feed: etree._Element, entry: FeedEntry) -> None:
    alert = entry.alert
    sent = atom_time(_cap_text(alert, "cap:sent") or "")
    element = _atom(feed, "entry")
    _atom(element, "id", entry.href)
    _atom(element, "title", _cap_text(alert, "cap:headline", "en") or
          _cap_text(alert, "cap:identifier") or "CAP message")
    _atom(element, "updated", sent)
    _atom(element, "published", sent)
    _atom(element, "link", rel="alternate", href=entry.href, type=CAP_MEDIA_TYPE)
    for name in ("msgType", "severity"):
        term = _cap_text(alert, f"cap:{name}", None if name == "msgType" else "en")
        if term:
            _atom(element, "category", term=term, scheme=f"{CAP_NS}#{name}")
    summary = _cap_text(alert, "cap:headline", "zh-CN")
    if summary:
        _atom(element, "summary", summary).set("{http://www.w3.org/XML/1998/namespace}lang",
                                               "zh-CN")
    _atom(element, "content", type=CAP_MEDIA_TYPE).append(alert)
