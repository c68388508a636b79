"""Walk each accepted message queued -> sending -> submitted -> final, calling back as it goes."""

import time
import uuid
from typing import Any

from exotel_client.encoding import GSM7_BASIC, GSM7_EXTENSION, analyse_body
from exotel_client.sandbox.api import Outgoing
from exotel_client.sandbox.callbacks import CallbackCourier
from exotel_client.sandbox.config import SandboxConfig
from exotel_client.sandbox.render import sms_message
from exotel_client.sandbox.rules import (
    dlt_rejection,
    exotel_time,
    final_code_for,
    now_ist,
    price_for,
)
from exotel_client.sandbox.scheduler import Scheduler
from exotel_client.sandbox.state import SandboxMessage, SandboxState
from exotel_client.statuses import describe_code

SENDING, SUBMITTED = 21015, 21020
STEPS = 3  # sending, submitted, final: each a third of the callback delay after the last


class MessageLifecycle:
    """Creates messages for accepted requests and moves them on from the scheduler thread."""

    def __init__(
        self,
        state: SandboxState,
        scheduler: Scheduler,
        courier: CallbackCourier,
        config: SandboxConfig,
    ) -> None:
        self._state = state
        self._scheduler = scheduler
        self._courier = courier
        self._config = config

    def accept(self, outgoing: Outgoing) -> dict[str, Any]:
        """Store a queued message and answer its ``SMSMessage`` as it was on arrival."""
        return self.accept_many([outgoing])[0]

    def accept_many(self, outgoing: list[Outgoing]) -> list[dict[str, Any]]:
        """``accept`` for every message of one request: one lock, one scheduled walk."""
        templates = self._state.template_patterns()
        created = now_ist()
        messages = [self._new_message(item, templates, created) for item in outgoing]
        with self._state.lock:
            self._state.add_messages(messages)
            answers = [sms_message(message) for message in messages]
        self._schedule([message.sid for message in messages], 0)
        return answers

    def _new_message(self, outgoing: Outgoing, templates, created) -> SandboxMessage:
        # The fate is decided now so the outcome never depends on timing.
        rejection = dlt_rejection(templates, outgoing.dlt_template_id, outgoing.body)
        message = SandboxMessage(
            sid=uuid.uuid4().hex,
            account_sid=self._config.account_sid,
            sender=outgoing.sender,
            to=outgoing.to,
            body=outgoing.body,
            units=segment_count(outgoing.body),
            final_code=rejection or final_code_for(outgoing.to),
            created=created,
            status_callback=outgoing.status_callback,
            custom_field=outgoing.custom_field,
            dlt_template_id=outgoing.dlt_template_id,
            sms_type=outgoing.sms_type,
        )
        message.history.append({"status": "queued", "code": message.code, "at": time.time()})
        return message

    def _schedule(self, sids: list[str], step: int) -> None:
        """The next step of these messages (one request's, walking together) is due later."""
        delay = self._config.callback_delay / STEPS
        self._scheduler.call_later(delay, lambda: self._advance(sids, step))

    def _advance(self, sids: list[str], step: int) -> None:
        final = step == STEPS - 1
        deliveries, walking = [], []
        with self._state.lock:
            for sid in sids:
                message = self._state.get_message(sid)
                if message is None:  # forgotten by a reset
                    continue
                _apply(message, message.final_code if final else (SENDING, SUBMITTED)[step])
                fields = self._callback_fields(message, final)
                if fields:
                    deliveries.append((sid, message.status_callback, fields))
                walking.append(sid)
            self._state.notify_changed()
        for sid, url, fields in deliveries:
            self._courier.deliver(sid, url, fields)
        if walking and not final:
            self._schedule(walking, step + 1)

    def _callback_fields(self, message: SandboxMessage, final: bool):
        """Form fields of the StatusCallback, or None when none is due."""
        if not message.status_callback or not (final or self._config.intermediate_callbacks):
            return None
        fields = [
            ("SmsSid", message.sid),
            ("To", message.to),
            ("Status", message.status),
            ("DetailedStatus", message.detailed_status),
            ("DetailedStatusCode", str(message.code)),
            ("SmsUnits", str(message.units)),
            ("DateSent", exotel_time(message.sent) or ""),
        ]
        if message.custom_field:
            fields.append(("CustomField", message.custom_field))
        return fields


# Plain ASCII in one part needs no full analysis (most messages); else count properly.
_ASCII_OUTSIDE_GSM7 = frozenset(map(chr, range(128))) - (GSM7_BASIC - GSM7_EXTENSION)


def segment_count(body: str) -> int:
    """Segments of ``body``, as ``analyse_body`` counts them."""
    if len(body) <= 160 and body.isascii() and _ASCII_OUTSIDE_GSM7.isdisjoint(body):
        return 1 if body else 0
    return analyse_body(body).segments


def _apply(message: SandboxMessage, code: int) -> None:
    """Move a message to ``code``; units are known once it left the queue, price once sent."""
    info = describe_code(code)
    now = now_ist()
    message.code, message.status, message.detailed_status = code, info.status, info.detailed_status
    message.updated = now
    message.units_known = True
    if info.final and info.status == "sent":
        message.sent = now
        message.price = price_for(message.units)
    message.history.append({"status": info.status, "code": code, "at": time.time()})
