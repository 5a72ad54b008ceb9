"""The hub's fan-out on the event loop, without a broker: filters, bounded queues."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from api.push.hub import PushHub
from api.push.subscription import Filters, PushedEvent, close_reason
from streams.kafka_config import KafkaConfig
from streams.schemas import WarningEvent
from warning_models.levels import Level


def pushed(province: str = "四川省", from_level: str = "none",
           to_level: str = "orange") -> PushedEvent:
    now = datetime.now(UTC)
    return PushedEvent.of(WarningEvent(
        event_id=str(uuid.uuid4()), warning_id="W1", point_id="P1", transition="opened",
        from_level=from_level, to_level=to_level, tier=Level.parse(to_level).tier,
        hazard_type="landslide", point_name="P1 slope", province=province, county=None,
        lon=103.6, lat=31.0, threatened_people=1, households=1, observed_at=now, issued_at=now,
        model="deformation", model_version="1"))


def test_a_full_queue_drops_that_client_only() -> None:
    async def scenario():
        hub = PushHub(KafkaConfig("127.0.0.1:9"), "warning-events", queue_size=2)
        slow, fast = hub.subscribe(Filters()), hub.subscribe(Filters())
        received = []
        for _ in range(3):
            hub.deliver(pushed())
            received.append(await fast.queue.get())
        return hub, slow, fast, received

    hub, slow, fast, received = asyncio.run(scenario())
    assert slow.closed.is_set() and slow.close_code == 1008
    assert slow.close_reason == "client too slow: more than 2 events not yet received"
    assert not fast.closed.is_set() and len(received) == 3
    assert hub.status()["clients"] == 1 and hub.slow_clients_dropped == 1


def test_min_level_keeps_downgrades_and_lifts_of_warnings_that_reached_it() -> None:
    orange_and_above = Filters(min_level=Level.ORANGE)
    assert orange_and_above.matches(pushed(to_level="red"))
    assert orange_and_above.matches(pushed(from_level="orange", to_level="none"))
    assert not orange_and_above.matches(pushed(from_level="blue", to_level="yellow"))


def test_province_filter_matches_names() -> None:
    sichuan = Filters(provinces=frozenset({"四川省"}))
    assert sichuan.matches(pushed())
    assert not sichuan.matches(pushed(province="云南省"))


def test_an_event_is_serialised_once_as_the_wire_message() -> None:
    event = pushed()
    assert event.text.startswith('{"type":"warning_event","event":{"schema_version":1,')
    assert f'"event_id":"{event.event_id}"' in event.text


def test_close_reasons_fit_a_close_frame_without_splitting_a_character() -> None:
    assert close_reason("x" + "四" * 50) == "x" + "四" * 40  # 121 bytes; a 41st would need 124
