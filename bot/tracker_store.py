"""A SQL tracker store that never writes personal data in clear (PIPL).

Use from endpoints.yml::

    tracker_store:
      type: bot.tracker_store.RedactingSQLTrackerStore
      dialect: postgresql          # or sqlite
      url: 127.0.0.1
      db: tuibao
      username: postgres
      # optional: sensitive_slots: [id_suffix, sms_code, phone_number]

Before events are persisted (and before they are streamed to an event broker) the text of
user and bot messages goes through ``redaction.redact``, identifier entity values of user
messages are masked, and the values of the sensitive slots are masked.

Erasure (the user's "删除我的信息", ``actions.privacy``): the action cannot delete the rows of a
conversation Rasa is still running, so it sets the slot ``privacy_erasure``; when this store
saves the turn that carries that event, it deletes every row of the conversation instead of
writing, and the next message starts a new, empty conversation.

Consequence for the dialogue: a sensitive slot holds its clear value only during the turn that
set it. Trackers are read back from this store at the next message, so the slot then reads
masked (``******``). Call the insurer with the ID suffix or code in the turn they arrive.
"""
from __future__ import annotations

import asyncio
import copy
import json
import logging
from typing import Any, Dict, Iterable, List, Optional, Text

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from redaction import SENSITIVE_ENTITIES, mask_value, redact
from redaction.logs import install as install_log_redaction

logger = logging.getLogger(__name__)

DEFAULT_SENSITIVE_SLOTS = ("id_suffix", "sms_code", "phone_number",
                           "lookup_phone", "lookup_id_suffix", "lookup_sms_code")
# Set by actions.privacy when the user asked to delete what is kept about them.
ERASURE_SLOT = "privacy_erasure"


def erasure_requested(events: Iterable[Event]) -> bool:
    """Whether these (new) events carry the user's erasure request."""
    return any(isinstance(event, SlotSet) and event.key == ERASURE_SLOT and event.value
               for event in events)


def redact_event_data(data: Dict[str, Any], sensitive_slots: Iterable[str]) -> Dict[str, Any]:
    """A redacted copy of one serialised event (``Event.as_dict()``)."""
    data = copy.deepcopy(data)
    kind = data.get("event")
    if kind in ("user", "bot"):
        data["text"] = redact(data.get("text"))
    if kind == "user":
        parse_data = data.get("parse_data") or {}
        if "text" in parse_data:
            parse_data["text"] = redact(parse_data["text"])
        for entity in parse_data.get("entities") or []:
            if entity.get("entity") in SENSITIVE_ENTITIES:
                entity["value"] = mask_value(entity["entity"], entity.get("value"))
    if kind == "slot" and data.get("name") in set(sensitive_slots):
        data["value"] = mask_value(data["name"], data.get("value"))
    return data


class RedactingSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` that masks ID numbers, phones, codes and bank cards before writing."""

    def __init__(
        self,
        domain: Optional[Domain] = None,
        dialect: Text = "sqlite",
        host: Optional[Text] = None,
        port: Optional[int] = None,
        db: Text = "rasa.db",
        username: Text = None,
        password: Text = None,
        event_broker: Optional[EventBroker] = None,
        login_db: Optional[Text] = None,
        query: Optional[Dict] = None,
        sensitive_slots: Optional[List[Text]] = None,
        **kwargs: Any,
    ) -> None:
        self.sensitive_slots = tuple(sensitive_slots or DEFAULT_SENSITIVE_SLOTS)
        install_log_redaction()  # Rasa's own logs carry the same messages: mask them too
        super().__init__(domain, dialect, host, port, db, username, password, event_broker,
                         login_db, query, **kwargs)

    def _redacted(self, event: Event) -> Dict[str, Any]:
        return redact_event_data(event.as_dict(), self.sensitive_slots)

    async def _stream_new_events(
        self, event_broker: EventBroker, new_events: List[Event], sender_id: Text
    ) -> None:
        """Brokers get the same redacted events as the database (none of an erased turn)."""
        if erasure_requested(new_events):
            return
        for event in new_events:
            event_broker.publish({"sender_id": sender_id, **self._redacted(event)})

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Persist the tracker's new events, redacted (as ``SQLTrackerStore.save``).

        The synchronous SQLAlchemy write runs in an executor, not on the server's event loop."""
        await self.stream_events(tracker)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._write_new_events, tracker)
        logger.debug("Tracker %s stored (redacted)", tracker.sender_id)

    def _write_new_events(self, tracker: DialogueStateTracker) -> None:
        with self.session_scope() as session:
            new_events = list(self._additional_events(session, tracker))
            if erasure_requested(new_events):
                erased = session.query(self.SQLEvent).filter(
                    self.SQLEvent.sender_id == tracker.sender_id).delete(synchronize_session=False)
                session.commit()
                logger.info("conversation erased at the user's request (%d events)", erased)
                return
            for event in new_events:
                data = self._redacted(event)
                intent = (data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY)
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=intent,
                        action_name=data.get("name"),
                        data=json.dumps(data),
                    )
                )
            session.commit()
