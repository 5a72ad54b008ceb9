"""E-mail notifications over SMTP: one plain-text message per delivery.

The message says what happened (level and tier, transition), where (point,
coordinates, county and province), whom it threatens and links to the
warning. ``Message-ID`` is derived from the delivery id, so a retried message
is recognisable as the same one.

SMTP replies: a permanent refusal of the recipient or of the message (5xx)
fails the delivery at once; everything else (connection errors, timeouts,
4xx, authentication or TLS problems of our own server) is retried.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from pydantic import SecretStr

from store.notifications import DueDelivery, Outcome
from warning_models.levels import Level

ERROR_LIMIT = 500


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    sender: str = "geowarn@localhost"
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = 10.0


_TRANSITION_WORDS = {
    "opened": "warning issued", "issued": "warning issued", "escalated": "warning raised",
    "downgraded": "warning lowered", "lifted": "warning lifted",
    "acknowledged": "warning acknowledged",
    "renotified": "REMINDER: warning not acknowledged in time",
    "escalated_to_national": "escalated to the national centre: not acknowledged in time",
}


def _level_text(label: str) -> str:
    level = Level.parse(label)
    return f"{label.upper()} (tier {level.tier})" if level.tier else "none"


def compose(delivery: DueDelivery, *, sender: str, link: str) -> EmailMessage:
    """The plain-text message of one delivery."""
    event = delivery.payload
    level = event["to_level"] if event["to_level"] != "none" else event["from_level"]
    what = _TRANSITION_WORDS.get(event["transition"], event["transition"])
    place = ", ".join(p for p in (event.get("county"), event.get("province")) if p) or "unknown"
    subject = (f"[geowarn] {_level_text(level)} {event['hazard_type']} at "
               f"{event['point_name']} ({place}): {what}")
    lines = [
        f"{what[:1].upper()}{what[1:]}.",
        "",
        f"Level:              {_level_text(event['to_level'])}"
        + (f" (was {_level_text(event['from_level'])})"
           if event["from_level"] != event["to_level"] else ""),
        f"Hazard:             {event['hazard_type']}",
        f"Risk point:         {event['point_name']} ({event['point_id']})",
        f"Location:           {event['lat']:.5f} N, {event['lon']:.5f} E",
        f"Place:              {place}",
        f"Threatened people:  {event['threatened_people']} in {event['households']} households",
        f"Observed at (UTC):  {event['observed_at']}",
        f"Recorded at (UTC):  {event['issued_at']}",
        f"By:                 {event.get('actor', 'system:scorer')}",
    ]
    if event.get("reason"):
        lines.append(f"Reason:             {event['reason']}")
    lines += ["", f"Details: {link}", "",
              f"Subscription: {delivery.subscription_name} ({delivery.subscription_id})",
              f"Warning {event['warning_id']}, event {event['event_id']}, delivery {delivery.id}"]
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = delivery.target
    message["Date"] = formatdate(usegmt=True)
    domain = sender.rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(idstring=delivery.id, domain=domain)
    message["X-Geowarn-Delivery"] = delivery.id
    message.set_content("\n".join(lines) + "\n")
    return message


class EmailSender:
    """Sends deliveries of e-mail subscriptions, one SMTP session per message."""

    def __init__(self, config: SmtpConfig, *, link: Callable[[dict], str]) -> None:
        self.config = config
        self._link = link

    def send(self, delivery: DueDelivery) -> Outcome:
        config = self.config
        try:
            message = compose(delivery, sender=config.sender, link=self._link(delivery.payload))
        except ValueError as exc:  # e.g. a line break in a header: the same on every retry
            return Outcome.permanent(None, f"the message cannot be written: {exc}"[:ERROR_LIMIT])
        try:
            with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
                if config.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if config.username:
                    password = config.password.get_secret_value() if config.password else ""
                    smtp.login(config.username, password)
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            return _refusal(code, f"recipient refused: {code} {_text(reply)}")
        except smtplib.SMTPAuthenticationError as exc:
            return Outcome.temporary(exc.smtp_code, f"SMTP login failed: {_text(exc.smtp_error)}")
        except smtplib.SMTPResponseException as exc:
            return _refusal(exc.smtp_code, f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}")
        except (smtplib.SMTPException, OSError) as exc:
            return Outcome.temporary(None, f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT])
        if refused:
            code, reply = next(iter(refused.values()))
            return _refusal(code, f"recipient refused: {code} {_text(reply)}")
        return Outcome.ok(250)


def _refusal(code: int, error: str) -> Outcome:
    error = error[:ERROR_LIMIT]
    return Outcome.permanent(code, error) if 500 <= code < 600 else Outcome.temporary(code, error)


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
