"""The human-readable parts of a CAP message, in Chinese (zh-CN) and English (en).

Place names (province, county, point) are shown as stored, usually Chinese,
in both languages: they are what officers and residents know them by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.cap.terms import LEVEL_CODES, EventTerm, LevelCodes
from store.read import TransitionView
from store.read_ogc import CapWarning


@dataclass(frozen=True, slots=True)
class Texts:
    language: str
    event: str
    headline: str
    description: str
    instruction: str
    area: str


def _place_zh(warning: CapWarning) -> str:
    region = "".join(part for part in (warning.province, warning.county) if part)
    return f"{region} {warning.point_name}" if region else warning.point_name


def _initial(text: str) -> str:
    """Upper-case the first letter only ("yellow (III)" -> "Yellow (III)")."""
    return text[:1].upper() + text[1:]


def _place_en(warning: CapWarning) -> str:
    return ", ".join(part for part in (warning.point_name, warning.county, warning.province)
                     if part)


def _level_en(level: str) -> str:
    codes = LEVEL_CODES.get(level)
    return codes.en if codes else level


def _level_zh(level: str) -> str:
    codes = LEVEL_CODES.get(level)
    return codes.zh if codes else level


def _evidence(items: list[Any], language: str) -> str:
    """Each evidence entry that has a value, as e.g. ``velocity 12.5 mm/d (sensor G1, gnss)``."""
    parts = []
    for entry in items:
        if not isinstance(entry, dict) or entry.get("value") is None:
            continue
        name = entry.get("name") or entry.get("kind") or "indicator"
        text = f"{name} {entry['value']:g}" if isinstance(entry["value"], (int, float)) \
            else f"{name} {entry['value']}"
        if entry.get("unit"):
            text += f" {entry['unit']}"
        sensor = ", ".join(str(entry[key]) for key in ("sensor_id", "kind") if entry.get(key))
        if sensor:
            text += f"（传感器 {sensor}）" if language == "zh-CN" else f" (sensor {sensor})"
        parts.append(text)
    return ("；" if language == "zh-CN" else "; ").join(parts)


def _headline_zh(warning: CapWarning, step: TransitionView, term: EventTerm) -> str:
    place = _place_zh(warning)
    if step.kind == "opened":
        return f"{place}{term.zh}{_level_zh(step.to_level)}预警"
    if step.kind == "lifted":
        return f"{place}{term.zh}预警解除"
    verb = "升级" if step.kind == "escalated" else "降级"
    return f"{place}{term.zh}预警{verb}为{_level_zh(step.to_level)}"


def _headline_en(warning: CapWarning, step: TransitionView, term: EventTerm) -> str:
    place = _place_en(warning)
    if step.kind == "opened":
        return f"{_initial(_level_en(step.to_level))} {term.en} warning: {place}"
    if step.kind == "lifted":
        return f"{_initial(term.en)} warning lifted: {place}"
    verb = "raised" if step.kind == "escalated" else "lowered"
    return f"{_initial(term.en)} warning {verb} to {_level_en(step.to_level)}: {place}"


def texts(warning: CapWarning, step: TransitionView, term: EventTerm, codes: LevelCodes
          ) -> tuple[Texts, Texts]:
    """The zh-CN and en texts of the message for ``step`` of ``warning``."""
    evidence_zh, evidence_en = _evidence(step.evidence, "zh-CN"), _evidence(step.evidence, "en")
    zh = (f"{_place_zh(warning)}{term.zh}隐患点：{codes.meaning_zh}。"
          f"受威胁 {warning.threatened_people} 人、{warning.households} 户。")
    en = (f"{_initial(term.en)} risk point {_place_en(warning)}: {codes.meaning_en}. "
          f"{warning.threatened_people} people in {warning.households} households are threatened.")
    if step.kind == "lifted":
        zh += f"原{_level_zh(step.from_level)}预警现已解除。"
        en += f" The {_level_en(step.from_level)} warning is lifted."
    elif step.kind != "opened":
        zh += f"预警级别由{_level_zh(step.from_level)}变为{_level_zh(step.to_level)}。"
        en += (f" The level changed from {_level_en(step.from_level)} to "
               f"{_level_en(step.to_level)}.")
    if evidence_zh:
        zh += f"依据（模型 {step.model} {step.model_version}）：{evidence_zh}。"
        en += f" Evidence (model {step.model} {step.model_version}): {evidence_en}."
    return (
        Texts("zh-CN", term.zh, _headline_zh(warning, step, term), zh,
              codes.instruction_zh, _place_zh(warning)),
        Texts("en", _initial(term.en), _headline_en(warning, step, term), en,
              codes.instruction_en, _place_en(warning)),
    )
