"""One CAP 1.2 message per warning transition.

A warning's life is a thread of messages: its opening is an ``Alert``, each
escalation or downgrade an ``Update`` and its lifting a ``Cancel``; every
message after the first lists all earlier ones of the warning in
``<references>`` ("sender,identifier,sent" triplets) and carries the warning
id in ``<incidents>``. Messages are derived from the stored transitions
whenever asked for, and every field comes from stored values, so a message
is the same document each time: ``identifier`` is the deterministic
transition id and ``sent`` its recorded (issue) time, in UTC written
``-00:00`` as CAP 1.2 §3.3.2 requires. Changing ``cap_sender`` changes the
sender of past messages too: set it once per deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from lxml import etree

from api.cap.area import circle, polygons
from api.cap.terms import (
    GEOCODE_VALUE_NAME,
    HAZARD_VALUE_NAME,
    OET_VALUE_NAME,
    event_term,
    level_codes,
    msg_type,
)
from api.cap.text import Texts, texts
from store.read import TransitionView
from store.read_ogc import CapWarning
from warning_models.levels import Level

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_MEDIA_TYPE = "application/cap+xml"
_SAFE = "-._~:"
"""Kept as is in identifiers; others are percent-encoded (CAP forbids spaces, commas, < and &)."""


@dataclass(frozen=True, slots=True)
class CapOptions:
    """What the deployment decides: who sends, and how wide a point's circle is."""

    sender: str = "geowarn@localhost"
    circle_radius_km: float = 1.0


def cap_time(value: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ss-00:00`` in UTC (CAP 1.2 allows no fraction and no "Z")."""
    utc = value.astimezone(UTC) if value.tzinfo else value
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


def identifier(transition_id: str) -> str:
    return "geowarn-" + quote(transition_id, safe=_SAFE)


def reference(sender: str, step: TransitionView) -> str:
    return f"{sender},{identifier(step.id)},{cap_time(step.recorded_at)}"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _value_pair(parent: etree._Element, tag: str, name: str, value: str) -> None:
    pair = _sub(parent, tag)
    _sub(pair, "valueName", name)
    _sub(pair, "value", value)


def _parameters(warning: CapWarning, step: TransitionView) -> list[tuple[str, str]]:
    pairs = [("geowarn:warning_id", warning.id), ("geowarn:point_id", warning.point_id),
             ("geowarn:transition", step.kind), ("geowarn:level", step.to_level)]
    try:
        tier = Level.parse(step.to_level).tier
    except ValueError:
        tier = None
    if tier:
        pairs.append(("geowarn:tier", tier))
    pairs += [("geowarn:threatened_people", str(warning.threatened_people)),
              ("geowarn:households", str(warning.households)),
              ("geowarn:model", f"{step.model} {step.model_version}")]
    return pairs


def _area(info: etree._Element, warning: CapWarning, text: Texts, options: CapOptions) -> None:
    area = _sub(info, "area")
    _sub(area, "areaDesc", text.area)
    shapes = polygons(warning.geometry)
    for polygon in shapes:
        _sub(area, "polygon", polygon)
    if not shapes:
        _sub(area, "circle", circle(warning.lon, warning.lat, options.circle_radius_km))
    for code in (warning.county_adcode, warning.province_adcode):
        if code:
            _value_pair(area, "geocode", GEOCODE_VALUE_NAME, code)


def _info(alert: etree._Element, warning: CapWarning, step: TransitionView, text: Texts,
          options: CapOptions, web: str | None) -> None:
    term = event_term(warning.hazard_type)
    codes = level_codes(step.kind, step.to_level)
    info = _sub(alert, "info")
    _sub(info, "language", text.language)
    _sub(info, "category", "Geo")
    _sub(info, "event", text.event)
    _sub(info, "responseType", codes.response)
    _sub(info, "urgency", codes.urgency)
    _sub(info, "severity", codes.severity)
    _sub(info, "certainty", codes.certainty)
    _value_pair(info, "eventCode", OET_VALUE_NAME, term.code)
    _value_pair(info, "eventCode", HAZARD_VALUE_NAME, warning.hazard_type)
    _sub(info, "effective", cap_time(step.observed_at))
    _sub(info, "senderName", "geowarn")
    _sub(info, "headline", text.headline)
    _sub(info, "description", text.description)
    _sub(info, "instruction", text.instruction)
    if web:
        _sub(info, "web", web)
    for name, value in _parameters(warning, step):
        _value_pair(info, "parameter", name, value)
    _area(info, warning, text, options)


def build_alert(warning: CapWarning, index: int, options: CapOptions, *,
                web: str | None = None) -> etree._Element:
    """The CAP ``<alert>`` of the ``index``-th transition (oldest first) of ``warning``.

    ``web`` is a link to the warning's detail, for the ``<web>`` element.
    """
    step = warning.transitions[index]
    earlier = warning.transitions[:index]
    alert = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _sub(alert, "identifier", identifier(step.id))
    _sub(alert, "sender", options.sender)
    _sub(alert, "sent", cap_time(step.recorded_at))
    _sub(alert, "status", "Actual")
    _sub(alert, "msgType", msg_type(step.kind) if earlier else "Alert")
    _sub(alert, "scope", "Public")
    if earlier:
        _sub(alert, "references", " ".join(reference(options.sender, e) for e in earlier))
    _sub(alert, "incidents", quote(warning.id, safe=_SAFE))
    term = event_term(warning.hazard_type)
    codes = level_codes(step.kind, step.to_level)
    for text in texts(warning, step, term, codes):
        _info(alert, warning, step, text, options, web)
    return alert


def to_bytes(element: etree._Element) -> bytes:
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8", pretty_print=True)
