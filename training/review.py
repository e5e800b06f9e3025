"""Review from real conversations: ``tuibao review export`` / ``import``, and the review queue the
console's trainer page uses.

Export reads the tracker store's ``events`` table (Rasa's SQL tracker store, SQLite or
PostgreSQL, through SQLAlchemy) and picks the user messages that
- fell back: predicted ``nlu_fallback``, or answered by ``action_default_fallback`` /
  ``action_ask_to_rephrase`` / ``action_two_stage_fallback``;
- scored low: intent confidence below ``min_confidence``;
- were corrected: Rasa reverted them (``rewind``), or the user's next message was ``deny`` to a
  bot answer that asked nothing;
- led to a handoff: a handoff action (``action_handoff*``, ``utter_handoff*``) answered them.
Texts are masked with the project's redaction (ID numbers, phones, codes, cards), deduplicated
(width, case, spaces, punctuation folded), counted, and written to a file with an empty
``label`` column (CSV or YAML) and to the SQL table ``review_items``.

Python API for the console (trainer role)::

    queue = ReviewQueue("sqlite:///var/review.db")   # or $TUIBAO_REVIEW_DB_URL
    queue.items(status="new", limit=50)             # -> [ReviewItem]
    label_choices(project_root)                     # -> {"cancel_auto_renewal": "hengxin", "greet": "core", …}
    queue.set_label(item_id, "cancel_auto_renewal", labelled_by="trainer-alice")
    queue.reject(item_id, labelled_by="trainer-alice")

Import folds labelled items into the right data folder (``nlu/reviewed.yml`` for core intents,
``extensions/<insurer>/data/nlu/<intent>.yml`` for an insurer's), each block under a comment
saying where it came from; it skips masked texts, held-out lines and examples already present.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import yaml
from sqlalchemy import (Column, Float, Integer, MetaData, String, Table, Text, create_engine,
                        select)
from sqlalchemy.engine import make_url

from training.lint import load_project, normalise_example

FALLBACK_ACTIONS = {"action_default_fallback", "action_ask_to_rephrase", "action_two_stage_fallback"}
FALLBACK_INTENT = "nlu_fallback"
HANDOFF_PREFIXES = ("action_handoff", "utter_handoff")
# Understood as an intent, yet the dialogue had no use for it: the bot asked what the user wants
# (the journeys of issue 19: a phone sent alone, "您想办理…" twice), or said again, word for
# word, what it had just said. The queue shows these too: the fix may be a rule or a story.
DEAD_END_RESPONSES = {"utter_how_can_i_help"}
STATUSES = ("new", "labelled", "rejected", "imported")
FIELDS = ["id", "text", "predicted_intent", "confidence", "reasons", "count", "conversations",
          "first_seen", "last_seen", "label"]

metadata = MetaData()
review_items = Table(
    "review_items", metadata,
    Column("id", String(16), primary_key=True),
    Column("text", Text, nullable=False),  # masked
    Column("predicted_intent", String(100)),
    Column("confidence", Float),
    Column("reasons", String(200)),  # comma-separated
    Column("count", Integer, nullable=False),
    Column("conversations", Integer, nullable=False),
    Column("first_seen", String(32)),
    Column("last_seen", String(32)),
    Column("status", String(16), nullable=False, default="new"),
    Column("label", String(100)),
    Column("labelled_by", String(100)),
    Column("labelled_at", String(32)),
    Column("imported_at", String(32)),
)


@dataclass
class ReviewItem:
    """One distinct (masked) user message to label."""

    item_id: str
    text: str
    predicted_intent: Optional[str]
    confidence: Optional[float]
    reasons: List[str]
    count: int
    conversations: int
    first_seen: str
    last_seen: str
    label: Optional[str] = None
    status: str = "new"
    labelled_by: Optional[str] = None


def _iso(timestamp: Optional[float]) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(float(timestamp), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def item_id(masked_text: str) -> str:
    return hashlib.sha256(normalise_example(masked_text).encode()).hexdigest()[:12]


def default_review_db(root: Path) -> str:
    return os.environ.get("TUIBAO_REVIEW_DB_URL") or f"sqlite:///{root / 'var' / 'review.db'}"


def tracker_store_url(endpoints: Path, root: Path) -> str:
    """The SQLAlchemy URL of the SQL tracker store configured in ``endpoints``.

    Only the ``tracker_store`` section is read, and only its own ``${VAR}`` values are
    filled from the environment: a secret another section needs (the action server's
    ``TUIBAO_ACTION_SECRET``) is not needed to export. A ValueError says what is missing."""
    import yaml
    from rasa.core.tracker_store import SQLTrackerStore

    path = endpoints if endpoints.is_absolute() else root / endpoints
    if not path.is_file():
        raise ValueError(f"{path} not found; pass --tracker-store URL")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path} is not valid YAML ({error.__class__.__name__}); pass "
                         "--tracker-store URL")
    config = document.get("tracker_store") if isinstance(document, dict) else None
    if not config:
        raise ValueError(f"{path} has no tracker_store; pass --tracker-store URL")

    def filled(value):
        if not isinstance(value, str):
            return value
        for name in re.findall(r"\$\{(\w+)\}", value):
            if name not in os.environ:
                raise ValueError(f"the tracker_store of {path} needs ${{{name}}}, which is not "
                                 f"set; set it or pass --tracker-store URL")
            value = value.replace("${" + name + "}", os.environ[name])
        return value

    kwargs = {key: filled(value) for key, value in config.items()}
    kind = str(kwargs.pop("type", "sql"))
    dialect = kwargs.get("dialect", "sqlite")
    if kind not in ("sql", "SQL") and "SQLTrackerStore" not in kind:
        raise ValueError(f"tracker store type {kind} is not SQL; pass --tracker-store URL")
    db = kwargs.get("db", "rasa.db")
    if dialect == "sqlite" and not Path(db).is_absolute():
        db = str(root / db)  # Rasa runs from the project folder
    url = SQLTrackerStore.get_db_url(dialect, kwargs.get("url"), kwargs.get("port"), db,
                                     kwargs.get("username"), kwargs.get("password"),
                                     kwargs.get("login_db"), kwargs.get("query"))
    return url if isinstance(url, str) else url.render_as_string(hide_password=False)


class TrackerStoreUnavailable(RuntimeError):
    """The tracker store cannot be read (no such database or no events table)."""


def _events(store_url: str, since: Optional[float]) -> Dict[str, List[Dict[str, Any]]]:
    from sqlalchemy.exc import NoSuchTableError, OperationalError

    where = make_url(store_url).render_as_string(hide_password=True)
    if store_url.startswith("sqlite:///") and not Path(store_url[len("sqlite:///"):]).is_file():
        raise TrackerStoreUnavailable(f"no tracker store at {where} (has the Rasa server run?)")
    engine = create_engine(store_url, connect_args={"connect_timeout": 10}
                           if store_url.startswith("postgresql") else {})
    try:
        table = Table("events", MetaData(), autoload_with=engine)
    except (NoSuchTableError, OperationalError) as error:
        engine.dispose()
        raise TrackerStoreUnavailable(f"cannot read the events table at {where} "
                                      f"({type(error).__name__})") from None
    query = select(table.c.sender_id, table.c.data).order_by(table.c.sender_id, table.c.id)
    if since is not None:
        query = query.where(table.c.timestamp >= since)
    conversations: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
    with engine.connect() as connection:
        for sender_id, data in connection.execute(query):
            conversations[sender_id].append(json.loads(data))
    engine.dispose()
    return conversations


def _reasons(events: List[Dict[str, Any]], index: int, min_confidence: float) -> List[str]:
    """Why the user message at ``index`` needs a trainer's eye (empty: it does not)."""
    event = events[index]
    intent = (event.get("parse_data") or {}).get("intent") or {}
    reasons = set()
    if intent.get("name") == FALLBACK_INTENT:
        reasons.add("fallback")
    if intent.get("confidence") is not None and float(intent["confidence"]) < min_confidence:
        reasons.add("low_score")
    last_bot_text = ""
    said_before = next((e.get("text") for e in reversed(events[:index]) if e.get("event") == "bot"), None)
    for later in events[index + 1:]:
        kind = later.get("event")
        if kind == "user":
            next_intent = ((later.get("parse_data") or {}).get("intent") or {}).get("name")
            asked = last_bot_text.rstrip().endswith(("？", "?"))
            if next_intent == "deny" and last_bot_text and not asked:
                reasons.add("corrected")
            break
        if kind == "rewind":
            reasons.add("corrected")
        if kind == "bot":
            last_bot_text = later.get("text") or ""
            if (later.get("metadata") or {}).get("utter_action") in DEAD_END_RESPONSES \
                    or (last_bot_text and last_bot_text == said_before):
                reasons.add("dead_end")
        if kind == "action":
            name = later.get("name") or ""
            if name in FALLBACK_ACTIONS:
                reasons.add("fallback")
            if name.startswith(HANDOFF_PREFIXES):
                reasons.add("handoff")
    return sorted(reasons)


def collect(store_url: str, min_confidence: float = 0.7, since: Optional[str] = None) -> List[ReviewItem]:
    """The messages to review, masked, deduplicated and counted, most frequent first."""
    from redaction import redact

    since_ts = None
    if since:
        try:
            moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
            since_ts = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
        except ValueError:
            raise ValueError(f"--since {since!r}: not an ISO date (2026-11-01 or "
                             "2026-11-01T08:00)") from None
    grouped: Dict[str, Dict[str, Any]] = {}
    for sender_id, events in _events(store_url, since_ts).items():
        for index, event in enumerate(events):
            text = (event.get("text") or "").strip()
            if event.get("event") != "user" or not text or text.startswith("/"):
                continue  # button payloads are not typed words
            reasons = _reasons(events, index, min_confidence)
            if not reasons:
                continue
            masked = redact(text)
            key = item_id(masked)
            intent = (event.get("parse_data") or {}).get("intent") or {}
            entry = grouped.setdefault(key, {"text": masked, "intents": Counter(), "conf": [],
                                             "reasons": set(), "count": 0, "senders": set(),
                                             "times": []})
            entry["intents"][intent.get("name")] += 1
            if intent.get("confidence") is not None:
                entry["conf"].append(float(intent["confidence"]))
            entry["reasons"].update(reasons)
            entry["count"] += 1
            entry["senders"].add(sender_id)
            if event.get("timestamp") is not None:
                entry["times"].append(float(event["timestamp"]))
    items = [ReviewItem(
        item_id=key, text=e["text"], predicted_intent=e["intents"].most_common(1)[0][0],
        confidence=round(min(e["conf"]), 3) if e["conf"] else None, reasons=sorted(e["reasons"]),
        count=e["count"], conversations=len(e["senders"]),
        first_seen=_iso(min(e["times"]) if e["times"] else None),
        last_seen=_iso(max(e["times"]) if e["times"] else None)) for key, e in grouped.items()]
    return sorted(items, key=lambda i: (-i.count, i.item_id))


def write_file(items: Sequence[ReviewItem], path: Path) -> None:
    """CSV (a spreadsheet) or YAML, one row per message, with an empty ``label`` to fill."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"id": i.item_id, "text": i.text, "predicted_intent": i.predicted_intent,
             "confidence": i.confidence, "reasons": ",".join(i.reasons), "count": i.count,
             "conversations": i.conversations, "first_seen": i.first_seen,
             "last_seen": i.last_seen, "label": i.label or ""} for i in items]
    if path.suffix in (".yml", ".yaml"):
        path.write_text(yaml.safe_dump({"review_items": rows}, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
        return
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def read_file(path: Path) -> List[ReviewItem]:
    """The rows of a labelled export that carry a label."""
    if path.suffix in (".yml", ".yaml"):
        rows = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("review_items") or []
    else:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    items = []
    for row in rows:
        label = str(row.get("label") or "").strip()
        if not label:
            continue
        items.append(ReviewItem(
            item_id=str(row["id"]), text=str(row["text"]), predicted_intent=row.get("predicted_intent"),
            confidence=None, reasons=str(row.get("reasons") or "").split(","),
            count=int(row.get("count") or 1), conversations=int(row.get("conversations") or 1),
            first_seen=str(row.get("first_seen") or ""), last_seen=str(row.get("last_seen") or ""),
            label=label, status="labelled", labelled_by=f"file {path.name}"))
    return items


class ReviewQueue:
    """The ``review_items`` table: what the console's trainer page lists and labels."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url)
        metadata.create_all(self.engine)

    @property
    def url_masked(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def add(self, items: Iterable[ReviewItem]) -> None:
        """Insert new messages; for known ones refresh counts and reasons, keep any label."""
        with self.engine.begin() as connection:
            for item in items:
                row = connection.execute(select(review_items).where(
                    review_items.c.id == item.item_id)).mappings().first()
                values = {"text": item.text, "predicted_intent": item.predicted_intent,
                          "confidence": item.confidence, "reasons": ",".join(item.reasons),
                          "count": item.count, "conversations": item.conversations,
                          "first_seen": item.first_seen, "last_seen": item.last_seen}
                if row is None:
                    connection.execute(review_items.insert().values(id=item.item_id, status="new", **values))
                else:
                    connection.execute(review_items.update().where(
                        review_items.c.id == item.item_id).values(**values))

    def _item(self, row) -> ReviewItem:
        return ReviewItem(item_id=row["id"], text=row["text"], predicted_intent=row["predicted_intent"],
                          confidence=row["confidence"],
                          reasons=[r for r in (row["reasons"] or "").split(",") if r],
                          count=row["count"], conversations=row["conversations"],
                          first_seen=row["first_seen"] or "", last_seen=row["last_seen"] or "",
                          label=row["label"], status=row["status"], labelled_by=row["labelled_by"])

    def items(self, status: Optional[str] = None, limit: int = 100, offset: int = 0) -> List[ReviewItem]:
        """Items, most frequent first; ``status`` one of new, labelled, rejected, imported."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        query = select(review_items).order_by(review_items.c.count.desc(), review_items.c.id)
        if status is not None:
            query = query.where(review_items.c.status == status)
        with self.engine.connect() as connection:
            rows = connection.execute(query.limit(limit).offset(offset)).mappings().all()
        return [self._item(row) for row in rows]

    def get(self, item_id: str) -> Optional[ReviewItem]:
        with self.engine.connect() as connection:
            row = connection.execute(select(review_items).where(
                review_items.c.id == item_id)).mappings().first()
        return self._item(row) if row else None

    def set_label(self, item_id: str, label: str, labelled_by: str,
                  choices: Optional[Dict[str, str]] = None) -> ReviewItem:
        """Label an item (an intent name, or faq/<topic>); with ``choices`` (``label_choices``)
        an unknown label is refused."""
        label = label.strip()
        if not label:
            raise ValueError("the label is empty")
        if choices is not None and label not in choices:
            raise ValueError(f"unknown intent {label!r}")
        return self._set(item_id, status="labelled", label=label, labelled_by=labelled_by)

    def reject(self, item_id: str, labelled_by: str) -> ReviewItem:
        """Not training material (noise, abuse, several intents at once)."""
        return self._set(item_id, status="rejected", label=None, labelled_by=labelled_by)

    def _set(self, item_id: str, **values) -> ReviewItem:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.engine.begin() as connection:
            done = connection.execute(review_items.update().where(
                review_items.c.id == item_id).values(labelled_at=now, **values))
            if done.rowcount == 0:
                raise KeyError(f"no review item {item_id}")
        return self.get(item_id)

    def labelled(self) -> List[ReviewItem]:
        return self.items(status="labelled", limit=100000)

    def mark_imported(self, ids: Iterable[str]) -> None:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.engine.begin() as connection:
            for item in ids:
                connection.execute(review_items.update().where(review_items.c.id == item).values(
                    status="imported", imported_at=now))


def label_choices(root: Path) -> Dict[str, str]:
    """Every label a trainer may give, and where its examples go: ``core`` or an insurer id."""
    from training.scaffold import core_intents

    data = load_project(root)
    choices = {intent: "core" for intent in core_intents(root) if intent != "faq"}
    choices.update({e.intent: "core" for e in data.examples if e.intent.startswith("faq/")})
    choices.update({intent: insurer for intent, (insurer, _, _) in data.extension_intents.items()})
    return choices


@dataclass
class FoldResult:
    imported: List[ReviewItem] = field(default_factory=list)
    skipped: List[ReviewItem] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    lines: List[str] = field(default_factory=list)


def fold_in(root: Path, items: Sequence[ReviewItem], dry_run: bool = False) -> FoldResult:
    """Append labelled items to the data folder of their intent, with provenance comments."""
    result = FoldResult()
    choices = label_choices(root)
    data = load_project(root)
    training = {normalise_example(e.text): e for e in data.examples}
    heldout = {normalise_example(e.text) for e in data.heldout}
    by_file: Dict[Path, Dict[str, List[ReviewItem]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        key = normalise_example(item.text)
        target = choices.get(item.label or "")
        if target is None:
            result.errors.append(f"{item.item_id}: unknown intent {item.label!r}")
            result.lines.append(f"error: {item.item_id} '{item.text}': unknown intent {item.label!r}")
            result.skipped.append(item)
            continue
        why = None
        if "*" in item.text:
            why = "contains masked personal data; write an example with a test identity by hand"
        elif key in heldout:
            why = "is a held-out line (it only measures)"
        elif key in training:
            other = training[key]
            why = (f"already an example of {other.intent} at {other.file.name}:{other.line}")
            if other.intent != item.label:
                result.errors.append(f"{item.item_id}: labelled {item.label} but {why}")
        if why:
            result.lines.append(f"skipped {item.item_id} '{item.text}': {why}")
            result.skipped.append(item)
            continue
        path = (root / "nlu" / "reviewed.yml" if target == "core"
                else root / "extensions" / target / "data" / "nlu" / f"{item.label}.yml")
        by_file[path][item.label].append(item)
        result.imported.append(item)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    for path, per_intent in by_file.items():
        blocks = []
        for intent, chosen in per_intent.items():
            who = sorted({i.labelled_by or "?" for i in chosen})
            blocks.append(
                f"# reviewed {stamp} (tuibao review import): {len(chosen)} message(s) from the "
                f"tracker store, review items {', '.join(i.item_id for i in chosen)}; labelled by "
                f"{', '.join(who)}; seen {sum(i.count for i in chosen)} times\n"
                f"- intent: {intent}\n  examples: |\n" + "".join(f"    - {i.text}\n" for i in chosen))
        result.lines.append(f"{'would write' if dry_run else 'wrote'} "
                            f"{sum(len(v) for v in per_intent.values())} examples to "
                            f"{path.relative_to(root)}")
        if dry_run:
            continue
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text('version: "3.1"\n# Examples labelled by trainers from real conversations '
                            "(tuibao review import).\nnlu:\n", encoding="utf-8")
        text = path.read_text(encoding="utf-8")
        path.write_text(text + ("" if text.endswith("\n") else "\n") + "\n".join(blocks),
                        encoding="utf-8")
    return result


def as_dict(item: ReviewItem) -> Dict[str, Any]:
    return asdict(item)


AGENT_ANSWERED = "agent-answered"


def flag_agent_reply(queue: ReviewQueue, turns: Sequence[Dict[str, Any]], at: str) -> ReviewItem:
    """An agent's reply flagged in the console: the user's message it answered (the last user
    turn before it, masked) joins the review queue with the reason ``agent-answered``, keeping
    any label and reasons it already has. ``turns``: the console's transcript (``who``,
    ``text``, ``at``); ``at``: the agent turn's time. ValueError when there is no such reply or
    no user message before it."""
    from redaction import redact

    index = next((i for i, t in enumerate(turns) if t.get("who") == "agent" and t.get("at") == at), None)
    if index is None:
        raise ValueError("no agent reply at that time in this conversation")
    asked = next((t for t in reversed(turns[:index]) if t.get("who") == "user" and t.get("text")), None)
    if asked is None:
        raise ValueError("no user message before this reply")
    text = redact(asked["text"]) or ""
    known = queue.get(item_id(text))
    seen = str(asked.get("at") or "")
    item = ReviewItem(
        item_id=item_id(text), text=text,
        predicted_intent=known.predicted_intent if known else None,
        confidence=known.confidence if known else None,
        reasons=sorted(set((known.reasons if known else []) + [AGENT_ANSWERED])),
        count=(known.count if known else 0) + 1, conversations=(known.conversations if known else 0) + 1,
        first_seen=(known.first_seen if known and known.first_seen else seen), last_seen=seen)
    queue.add([item])
    return queue.get(item.item_id)
