"""The vocabularies a CAP message draws on, as tables: event terms, levels, message types.

Event terms: the OASIS Event Terms List for CAP 1.2 (``valueName`` OET:v1.2)
names landslide (OET-119), debris flow (OET-056) and mudslide (OET-133).
Rock collapse (崩塌), ground subsidence (地面沉降) and ground fissures (地裂缝)
are sent as the closest general term, Landslide (OET-119), the mass movement
of earth and rock; check the current list for a closer term before relying
on these three. The exact type always travels too, in ``<event>`` and as a
second ``eventCode`` with ``valueName`` ``geowarn:hazard_type``.

Levels to CAP codes (China's four tiers; CAP 1.2 §3.2.2):

| level        | severity | urgency   | certainty | responseType |
|--------------|----------|-----------|-----------|--------------|
| red (I)      | Extreme  | Immediate | Likely    | Evacuate     |
| orange (II)  | Severe   | Expected  | Likely    | Evacuate     |
| yellow (III) | Moderate | Future    | Possible  | Prepare      |
| blue (IV)    | Minor    | Future    | Possible  | Monitor      |
| lifted       | Minor    | Past      | Unlikely  | AllClear     |

Orange orders the evacuation of high-risk spots, hence Evacuate; yellow and
blue forecast an acceleration that may not come, hence Possible. A lifted
warning's Cancel message says the threat is past and no longer expected.
"""

from __future__ import annotations

from dataclasses import dataclass

OET_VALUE_NAME = "OET:v1.2"
HAZARD_VALUE_NAME = "geowarn:hazard_type"
GEOCODE_VALUE_NAME = "GB/T 2260"
"""China's administrative division codes (adcodes), e.g. 510000 for Sichuan."""


@dataclass(frozen=True, slots=True)
class EventTerm:
    code: str
    oet_name: str
    """The term's name in the OASIS list."""
    en: str
    zh: str


LANDSLIDE = EventTerm("OET-119", "Landslide", "landslide", "滑坡")
DEBRIS_FLOW = EventTerm("OET-056", "Debris Flow", "debris flow", "泥石流")

EVENT_TERMS: dict[str, EventTerm] = {
    "landslide": LANDSLIDE,
    "debris_flow": DEBRIS_FLOW,
    "collapse": EventTerm(LANDSLIDE.code, LANDSLIDE.oet_name, "collapse (rockfall)", "崩塌"),
    "subsidence": EventTerm(LANDSLIDE.code, LANDSLIDE.oet_name, "ground subsidence", "地面沉降"),
    "ground_fissure": EventTerm(LANDSLIDE.code, LANDSLIDE.oet_name, "ground fissure", "地裂缝"),
}
"""geowarn hazard type -> the event term sent for it."""


def event_term(hazard_type: str) -> EventTerm:
    """The term for a hazard type; an unknown type (added to the registry later) is a landslide."""
    found = EVENT_TERMS.get(hazard_type)
    if found is None:
        return EventTerm(LANDSLIDE.code, LANDSLIDE.oet_name, hazard_type.replace("_", " "),
                         hazard_type)
    return found


@dataclass(frozen=True, slots=True)
class LevelCodes:
    severity: str
    urgency: str
    certainty: str
    response: str
    en: str
    zh: str
    meaning_en: str
    meaning_zh: str
    instruction_en: str
    instruction_zh: str


LEVEL_CODES: dict[str, LevelCodes] = {
    "red": LevelCodes(
        "Extreme", "Immediate", "Likely", "Evacuate", "red (I)", "红色（I级）",
        "very high risk, evacuation order", "风险很高，须立即撤离",
        "Evacuate the threatened area now and keep everyone out of it.",
        "立即组织受威胁区域人员撤离，严禁人员进入。"),
    "orange": LevelCodes(
        "Severe", "Expected", "Likely", "Evacuate", "orange (II)", "橙色（II级）",
        "high risk, evacuate high-risk spots", "风险高，高风险点人员须转移",
        "Move people out of the high-risk spots, step up patrols and monitoring, "
        "and be ready to evacuate the whole threatened area.",
        "转移高风险点人员，加密巡查和监测，做好全面撤离准备。"),
    "yellow": LevelCodes(
        "Moderate", "Future", "Possible", "Prepare", "yellow (III)", "黄色（III级）",
        "relatively high risk", "风险较高",
        "Increase patrols and monitoring and get ready to evacuate.",
        "加密巡查和监测，做好撤离准备。"),
    "blue": LevelCodes(
        "Minor", "Future", "Possible", "Monitor", "blue (IV)", "蓝色（IV级）",
        "some risk", "有一定风险",
        "Stay alert and keep watching the slope and the monitoring data.",
        "注意防范，加强观察和监测。"),
}

LIFTED = LevelCodes(
    "Minor", "Past", "Unlikely", "AllClear", "lifted", "已解除",
    "the threat has passed", "险情已解除",
    "The warning is lifted; normal activity may resume. Report any new cracks or movement.",
    "预警已解除，可恢复正常生产生活，发现新的裂缝或变形请及时报告。")

MSG_TYPES: dict[str, str] = {
    "opened": "Alert",
    "escalated": "Update",
    "downgraded": "Update",
    "lifted": "Cancel",
}
"""Transition kind -> CAP msgType; an unknown kind (a later lifecycle step) is an Update."""


def msg_type(kind: str) -> str:
    return MSG_TYPES.get(kind, "Update")


def level_codes(kind: str, to_level: str) -> LevelCodes:
    """The codes of a message: the level reached, or LIFTED for a lifting."""
    if msg_type(kind) == "Cancel" or to_level not in LEVEL_CODES:
        return LIFTED
    return LEVEL_CODES[to_level]
