"""Real receivers for the notifier's tests (an HTTP server verifying webhook signatures,
an SMTP server), and the two senders against them."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import orjson
import pytest
from aiosmtpd.controller import Controller

from store.notifications import DueDelivery
from streams.notify_delivery import warning_link
from streams.notify_email import EmailSender, SmtpConfig
from streams.notify_webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSender,
    verify_signature,
)
from streams.schemas import WarningEvent

LINK = warning_link("https://geowarn.example.cn")


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: dict
    verified: bool
    """whether the signature checked out with the subscription's secret, as a receiver does"""


class WebhookReceiver:
    """An HTTP server in a thread: answers ``statuses`` in turn (then ``default``), records
    every request and checks its signature with the secret registered for its subscription."""

    def __init__(self, *, statuses: tuple[int, ...] = (), default: int = 200,
                 delay_s: float = 0.0, endless_body: bool = False) -> None:
        self.secrets: dict[str, str] = {}
        self.requests: list[Received] = []
        self._statuses = list(statuses)
        self._default, self._delay_s = default, delay_s
        self._endless_body = endless_body
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                receiver._record(dict(self.headers), raw)
                time.sleep(receiver._delay_s)
                with receiver._lock:
                    status = receiver._statuses.pop(0) if receiver._statuses else receiver._default
                self.send_response(status)
                if receiver._endless_body:  # a byte now and then, until the client leaves
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    while not receiver._stopped.wait(0.05):
                        self.wfile.write(b"1\r\nx\r\n")
                        self.wfile.flush()
                    return
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _record(self, headers: dict[str, str], raw: bytes) -> None:
        body = orjson.loads(raw)
        secret = self.secrets.get(body["subscription"]["id"], "")
        verified = verify_signature(secret, headers.get(TIMESTAMP_HEADER),
                                    headers.get(SIGNATURE_HEADER), raw, now=time.time())
        with self._lock:
            self.requests.append(Received(headers, body, verified))

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hooks/geowarn"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()


class _Mailbox:
    def __init__(self, refused: set[str]) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refused = refused

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpReceiver:
    """An SMTP server (aiosmtpd) keeping the messages it accepts; ``refused`` get 550."""

    def __init__(self, refused: tuple[str, ...] = ()) -> None:
        self.mailbox = _Mailbox(set(refused))
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=free_port())

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return self.mailbox.messages

    def config(self, **overrides) -> SmtpConfig:
        return SmtpConfig(host="127.0.0.1", port=self._controller.port,
                          sender="geowarn@example.cn", timeout_s=5.0, **overrides)

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver(refused=("nobody@example.cn",)) as receiver:
        yield receiver


def delivery(channel: str, target: str, secret: str | None = None) -> DueDelivery:
    at = datetime(2026, 7, 1, 8, tzinfo=UTC)
    payload = WarningEvent(
        event_id="E1", warning_id="W1", point_id="P1", transition="opened", from_level="none",
        to_level="red", tier="I", hazard_type="landslide", point_name="Renhe slope",
        province="四川省", county="仁和区", lon=101.57, lat=26.46, threatened_people=240,
        households=61, observed_at=at, issued_at=at, model="deformation", model_version="1",
    ).model_dump(mode="json")
    return DueDelivery("D1", 0, "S1", "Sichuan duty desk", channel, target, secret, payload)


def test_a_webhook_arrives_signed_and_verifiable(webhook):
    webhook.secrets["S1"] = "gws_the-secret"
    sender = WebhookSender(timeout_s=5, link=LINK)
    outcome = sender.send(delivery("webhook", webhook.url, "gws_the-secret"))
    sender.close()
    assert (outcome.delivered, outcome.status_code) == (True, 200)
    [request] = webhook.requests
    assert request.verified and request.headers[DELIVERY_HEADER] == "D1"
    assert request.body["event"]["to_level"] == "red"
    assert request.body["link"] == "https://geowarn.example.cn/warnings/W1"


def test_a_webhook_signed_with_another_secret_does_not_verify(webhook):
    webhook.secrets["S1"] = "gws_the-secret"
    sender = WebhookSender(timeout_s=5, link=LINK)
    assert sender.send(delivery("webhook", webhook.url, "gws_stolen")).delivered
    sender.close()
    assert [r.verified for r in webhook.requests] == [False]


def test_a_receiver_that_does_not_answer_in_time_is_retried_later():
    with WebhookReceiver(delay_s=1.0) as slow:
        sender = WebhookSender(timeout_s=0.2, link=LINK)
        outcome = sender.send(delivery("webhook", slow.url, "gws_x"))
        sender.close()
    assert (outcome.delivered, outcome.retry, outcome.error) == (False, True,
                                                                  "no answer within 0.2 s")


def test_a_receiver_whose_answer_never_ends_does_not_hold_the_sender():
    """The answer's status decides; its body is not read (a read timeout would never
    fire on a byte every 50 ms)."""
    with WebhookReceiver(endless_body=True) as endless:
        sender = WebhookSender(timeout_s=2, link=LINK)
        outcomes = []
        sending = threading.Thread(target=lambda: outcomes.append(
            sender.send(delivery("webhook", endless.url, "gws_x"))), daemon=True)
        sending.start()
        sending.join(20)
        finished = not sending.is_alive()
    sender.close()
    assert finished, "the sender was still reading the answer after 20 s"
    assert [(o.delivered, o.status_code) for o in outcomes] == [(True, 200)]


def test_an_unreachable_receiver_is_retried_later():
    sender = WebhookSender(timeout_s=1, link=LINK)
    outcome = sender.send(delivery("webhook", f"http://127.0.0.1:{free_port()}/", "gws_x"))
    sender.close()
    assert (outcome.delivered, outcome.retry) == (False, True)
    assert "ConnectError" in outcome.error


def test_an_email_arrives_with_the_warning_in_plain_text(smtp):
    outcome = EmailSender(smtp.config(), link=LINK).send(delivery("email", "duty@sc.example.cn"))
    assert (outcome.delivered, outcome.status_code) == (True, 250)
    [message] = smtp.messages
    assert message["To"] == "duty@sc.example.cn" and message["From"] == "geowarn@example.cn"
    assert message["Subject"].startswith("[geowarn] RED (tier I) landslide at Renhe slope")
    body = message.get_content()
    assert "240 in 61 households" in body and "/warnings/W1" in body


def test_a_point_name_that_would_break_the_headers_fails_at_once(smtp):
    injected = delivery("email", "duty@sc.example.cn")
    injected = replace(injected, payload={**injected.payload,
                                          "point_name": "Renhe\r\nBcc: all@example.cn"})
    outcome = EmailSender(smtp.config(), link=LINK).send(injected)
    assert (outcome.delivered, outcome.retry) == (False, False)
    assert outcome.error.startswith("the message cannot be written")
    assert smtp.messages == []


def test_a_refused_mailbox_fails_at_once_and_a_missing_server_is_retried(smtp):
    refused = EmailSender(smtp.config(), link=LINK).send(delivery("email", "nobody@example.cn"))
    assert (refused.delivered, refused.retry, refused.status_code) == (False, False, 550)
    away = SmtpConfig(host="127.0.0.1", port=free_port(), timeout_s=2)
    missing = EmailSender(away, link=LINK).send(delivery("email", "duty@sc.example.cn"))
    assert (missing.delivered, missing.retry) == (False, True)
    assert smtp.messages == []
