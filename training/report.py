"""``tuibao eval``: the held-out report, built on ``bot.evaluate``'s counting rules.

Every held-out file (``tests/heldout/*.yml`` and each insurer's ``extensions/<insurer>/tests/
heldout/*.yml``) is parsed by the model in-process; the report has, overall and per source
(``core``, ``hengxin`` …): per-intent precision, recall and F1 (``faq/<topic>`` counted as the
one intent ``faq``, as in ``bot.evaluate``), macro-F1, intent accuracy, identifier exact-value
accuracy per entity, the confusion matrix (a PNG), the most-confused pairs with their
(redacted) examples, and parse latency. Two models (or two configs, each trained NLU-only) are
compared side by side. Output: ``report.json`` for machines, ``report.html`` for people.
"""
from __future__ import annotations

import asyncio
import base64
import html
import io
import json
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from training.extensions import discover

CORE = "core"
TOP_CONFUSED = 10


@dataclass(frozen=True)
class HeldOutLine:
    text: str
    intent: str  # faq for every faq/<topic>
    full: str  # faq/<topic>
    entities: Tuple[Tuple[str, str], ...]  # (entity, normalised value) of identifier entities
    source: str  # core or the insurer id


def heldout_files(root: Path) -> List[Tuple[str, Path]]:
    """(source, file) for the core held-out set and every insurer's held-out lines."""
    files = [(CORE, p) for p in sorted((root / "tests" / "heldout").glob("*.yml"))]
    for ext in discover(root):
        files += [(ext.insurer, p) for p in ext.files(ext.heldout_dir)]
    return files


def load_heldout(files: Sequence[Tuple[str, Path]]) -> List[HeldOutLine]:
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.evaluate import gold_value
    from ground.identifiers import IDENTIFIER_ENTITIES

    lines = []
    for source, path in files:
        for message in load_data(str(path)).intent_examples:
            if not message.get("text"):
                continue
            entities = tuple(
                (e["entity"], gold_value(e["entity"], str(e.get("value", ""))))
                for e in message.get("entities") or [] if e.get("entity") in IDENTIFIER_ENTITIES)
            intent = message.get("intent")
            lines.append(HeldOutLine(message.get("text"), intent,
                                     message.get("intent_response_key") or intent, entities, source))
    return lines


async def _parse_timed(model: Path, texts: List[str]) -> Tuple[List[Dict[str, Any]], List[float]]:
    from rasa.core.agent import Agent
    from bot.evaluate import quiet_rasa_logging

    quiet_rasa_logging()
    agent = Agent.load(str(model))
    await agent.parse_message("你好")  # the first parse builds lazy state; not a user's latency
    parses, latencies = [], []
    for text in texts:
        start = time.perf_counter()
        parses.append(await agent.parse_message(text))
        latencies.append((time.perf_counter() - start) * 1000)
    return parses, latencies


def _percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def score(lines: List[HeldOutLine], parses: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The figures for one set of held-out lines and their parses."""
    from sklearn.metrics import precision_recall_fscore_support

    from bot.evaluate import predicted_label, score_entities
    from ground.identifiers import IDENTIFIER_ENTITIES
    from redaction import redact

    gold, pred, gold_full, pred_full = [], [], [], []
    entity_counts: Dict[str, Counter] = {e: Counter() for e in IDENTIFIER_ENTITIES}
    confused: Dict[Tuple[str, str], List[str]] = defaultdict(list)
    for line, parse in zip(lines, parses):
        p_intent, p_full = predicted_label(parse)
        gold.append(line.intent)
        pred.append(p_intent)
        gold_full.append(line.full)
        pred_full.append(p_full)
        predicted = [e for e in parse.get("entities") or [] if e.get("entity") in IDENTIFIER_ENTITIES]
        for entity, counts in score_entities(list(line.entities), predicted).items():
            entity_counts.setdefault(entity, Counter()).update(counts)
        if line.intent != p_intent:
            confused[(line.intent, p_intent)].append(redact(line.text))

    labels = sorted(set(gold))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, pred, labels=labels, zero_division=0)
    per_intent = {
        label: {"precision": round(float(p), 4), "recall": round(float(r), 4),
                "f1": round(float(f), 4), "n": int(n)}
        for label, p, r, f, n in zip(labels, precision, recall, f1, support)}
    entities = {}
    for entity, c in entity_counts.items():
        denominator = c["gold"] + c["spurious"]
        entities[entity] = {"gold": c["gold"], "matched": c["matched"], "spurious": c["spurious"],
                            "accuracy": round(c["matched"] / denominator, 4) if denominator else None}
    scored = [e["accuracy"] for e in entities.values() if e["accuracy"] is not None]
    pairs = sorted(confused.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:TOP_CONFUSED]
    total = len(lines)
    return {
        "utterances": total,
        "intent_accuracy": round(sum(g == p for g, p in zip(gold, pred)) / total, 4) if total else None,
        "macro_f1": round(float(sum(f1) / len(f1)), 4) if len(f1) else None,
        "full_label_accuracy": round(sum(g == p for g, p in zip(gold_full, pred_full)) / total, 4)
        if total else None,
        "per_intent": per_intent,
        "identifiers": entities,
        "identifier_accuracy": round(min(scored), 4) if scored else None,
        "most_confused": [{"gold": g, "predicted": p, "count": len(texts), "examples": texts[:5]}
                          for (g, p), texts in pairs],
        "confusion": _confusion(gold, pred),
    }


def _confusion(gold: List[str], pred: List[str]) -> Dict[str, Any]:
    labels = sorted(set(gold) | set(pred))
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, pred):
        matrix[index[g]][index[p]] += 1
    return {"labels": labels, "matrix": matrix}


def evaluate_model(model: Path, root: Path, files: Optional[Sequence[Tuple[str, Path]]] = None,
                   guard: Sequence[Tuple[str, str, str]] = (),
                   development: Sequence[Tuple[str, Path]] = ()) -> Dict[str, Any]:
    """Parse every held-out line with ``model``: overall figures, per source, latency, and each
    line's prediction (``predictions``, for the gate's paired comparison). ``guard``: core
    training examples (text, intent, file:line) the gate checks keep their intent. The
    ``development`` files are parsed in the same pass and scored apart (``report["development"]``,
    per file): they count in no overall figure."""
    from bot.evaluate import predicted_label
    from redaction import redact

    files = list(files) if files is not None else heldout_files(root)
    lines = load_heldout(files)
    if not lines:
        raise ValueError("no held-out lines to evaluate")
    extra = {path: load_heldout([(source, path)]) for source, path in development}
    dev_texts = [l.text for group in extra.values() for l in group]
    all_parses, all_latencies = asyncio.run(_parse_timed(
        model, [line.text for line in lines] + dev_texts + [text for text, _, _ in guard]))
    parses, latencies = all_parses[:len(lines)], all_latencies[:len(lines)]
    guard_parses = all_parses[len(lines) + len(dev_texts):]
    report = {"model": str(model), "model_fingerprint": model_fingerprint(model),
              "heldout": [str(p.relative_to(root)) if p.is_relative_to(root) else str(p)
                          for _, p in files],
              "overall": score(lines, parses[:len(lines)]), "sources": {}, "development": {}}
    for source in sorted({line.source for line in lines}):
        chosen = [i for i, line in enumerate(lines) if line.source == source]
        report["sources"][source] = score([lines[i] for i in chosen], [parses[i] for i in chosen])
    report["predictions"] = [
        {"text": redact(line.text), "source": line.source, "gold": line.intent,
         "predicted": predicted_label(parse)[0],
         "confidence": round(float((parse.get("intent") or {}).get("confidence") or 0.0), 4)}
        for line, parse in zip(lines, parses)]
    report["core_guard"] = [
        {"text": text, "gold": intent, "where": where, "predicted": predicted_label(parse)[0],
         "confidence": round(float((parse.get("intent") or {}).get("confidence") or 0.0), 4)}
        for (text, intent, where), parse in zip(guard, guard_parses)]
    at = len(lines)
    for path, group in extra.items():
        name = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        report["development"][name] = score(group, all_parses[at:at + len(group)])
        at += len(group)
    report["latency_ms"] = {"p50": round(statistics.median(latencies), 2),
                            "p95": round(_percentile(latencies, 0.95), 2),
                            "max": round(max(latencies), 2), "n": len(latencies)}
    return report


def model_fingerprint(model: Path) -> Optional[str]:
    """The data fingerprint written next to a model when it was trained (``<name>.fingerprint``)."""
    sidecar = model.with_name(model.name.replace(".tar.gz", "") + ".fingerprint")
    return sidecar.read_text().strip() if sidecar.is_file() else None


def confusion_png(confusion: Dict[str, Any], title: str) -> bytes:
    """The confusion matrix as a PNG (rows: held-out label, columns: prediction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, matrix = confusion["labels"], confusion["matrix"]
    size = max(5.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)))
    ax.set_yticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=90, fontsize=8)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("held-out label")
    ax.set_title(title)
    darkest = max((v for row in matrix for v in row), default=1)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            if value:
                colour = "crimson" if i != j else "white" if value > darkest / 2 else "black"
                ax.text(j, i, str(value), ha="center", va="center", fontsize=7, color=colour)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def f1_bars_png(reports: List[Tuple[str, Dict[str, Any]]]) -> bytes:
    """Per-intent F1 of one or two models as grouped bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted({label for _, r in reports for label in r["overall"]["per_intent"]})
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(labels) + 2), 4))
    width = 0.8 / len(reports)
    for k, (name, report) in enumerate(reports):
        values = [report["overall"]["per_intent"].get(label, {}).get("f1", 0) for label in labels]
        ax.bar([i + k * width for i in range(len(labels))], values, width, label=name)
    ax.set_xticks([i + width * (len(reports) - 1) / 2 for i in range(len(labels))])
    ax.set_xticklabels(labels, rotation=90, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _fmt(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def render_html(reports: List[Tuple[str, Dict[str, Any]]]) -> str:
    """One page: headline figures side by side, F1 bars, per-intent table with deltas,
    identifier accuracy, latency, each model's confusion matrix and most-confused pairs."""
    esc = html.escape
    names = [name for name, _ in reports]
    parts = ["<!doctype html><html lang='zh'><meta charset='utf-8'><title>Tuibao held-out report"
             "</title><style>body{font-family:sans-serif;margin:2em;max-width:1200px}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:right}td:first-child,th:first-child{text-align:left}.worse{color:#b00}"
             ".better{color:#070}img{max-width:100%}</style>",
             f"<h1>Held-out report: {' vs '.join(esc(n) for n in names)}</h1>"]
    rows = [("utterances", "utterances"), ("intent accuracy", "intent_accuracy"),
            ("macro-F1", "macro_f1"), ("full-label accuracy (faq topics)", "full_label_accuracy"),
            ("identifier accuracy (worst entity)", "identifier_accuracy")]
    parts.append("<h2>Headline</h2><table><tr><th></th>"
                 + "".join(f"<th>{esc(n)}</th>" for n in names) + "</tr>")
    for title, key in rows:
        cells = "".join(f"<td>{r['overall'][key] if key == 'utterances' else _fmt(r['overall'][key])}</td>"
                        for _, r in reports)
        parts.append(f"<tr><td>{title}</td>{cells}</tr>")
    for source in sorted({s for _, r in reports for s in r["sources"]}):
        cells = "".join(f"<td>{_fmt(r['sources'].get(source, {}).get('macro_f1'))}</td>"
                        for _, r in reports)
        parts.append(f"<tr><td>macro-F1, {esc(source)} lines</td>{cells}</tr>")
    cells = "".join(f"<td>{r['latency_ms']['p50']} / {r['latency_ms']['p95']}</td>" for _, r in reports)
    parts.append(f"<tr><td>parse latency p50 / p95 (ms)</td>{cells}</tr></table>")
    parts.append("<h2>F1 per intent</h2>" + _img(f1_bars_png(reports), "F1 per intent"))
    parts.append("<table><tr><th>intent</th>" + "".join(
        f"<th>{esc(n)} P</th><th>{esc(n)} R</th><th>{esc(n)} F1</th>" for n in names)
        + ("<th>ΔF1</th>" if len(reports) == 2 else "") + "<th>n</th></tr>")
    labels = sorted({label for _, r in reports for label in r["overall"]["per_intent"]})
    for label in labels:
        figures = [r["overall"]["per_intent"].get(label) for _, r in reports]
        cells = "".join(f"<td>{_fmt(f['precision'])}</td><td>{_fmt(f['recall'])}</td><td>{_fmt(f['f1'])}</td>"
                        if f else "<td></td><td></td><td></td>" for f in figures)
        if len(reports) == 2 and all(figures):
            delta = figures[1]["f1"] - figures[0]["f1"]
            css = "worse" if delta < 0 else "better" if delta > 0 else ""
            cells += f"<td class='{css}'>{delta:+.3f}</td>"
        elif len(reports) == 2:
            cells += "<td></td>"
        n = next(f["n"] for f in figures if f)
        parts.append(f"<tr><td>{esc(label)}</td>{cells}<td>{n}</td></tr>")
    parts.append("</table><h2>Identifiers (exact normalised value)</h2><table><tr><th>entity</th>"
                 + "".join(f"<th>{esc(n)}</th>" for n in names) + "</tr>")
    for entity in sorted({e for _, r in reports for e in r["overall"]["identifiers"]}):
        cells = "".join(
            f"<td>{_fmt(r['overall']['identifiers'][entity]['accuracy'])} "
            f"({r['overall']['identifiers'][entity]['matched']}/{r['overall']['identifiers'][entity]['gold']}"
            f", {r['overall']['identifiers'][entity]['spurious']} spurious)</td>" for _, r in reports)
        parts.append(f"<tr><td>{esc(entity)}</td>{cells}</tr>")
    parts.append("</table>")
    for name, report in reports:
        parts.append(f"<h2>{esc(name)}: confusion matrix</h2><p>{esc(report['model'])}</p>")
        parts.append(_img(confusion_png(report["overall"]["confusion"], name), f"confusion {name}"))
        parts.append(f"<h3>{esc(name)}: most-confused pairs</h3><table><tr><th>held-out label"
                     "</th><th>predicted</th><th>count</th><th>examples (personal data masked)</th></tr>")
        for pair in report["overall"]["most_confused"]:
            examples = "<br>".join(esc(t) for t in pair["examples"])
            parts.append(f"<tr><td>{esc(pair['gold'])}</td><td>{esc(pair['predicted'])}</td>"
                         f"<td>{pair['count']}</td><td style='text-align:left'>{examples}</td></tr>")
        parts.append("</table>")
    parts.append("</html>")
    return "\n".join(parts)


def write_outputs(reports: List[Tuple[str, Dict[str, Any]]], out_dir: Path) -> Tuple[Path, Path]:
    """``report.json`` (every figure) and ``report.html`` (plots) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / "report.json", out_dir / "report.html"
    payload = {name: report for name, report in reports}
    json_path.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    html_path.write_text(render_html(reports), encoding="utf-8")
    for name, report in reports:
        (out_dir / f"confusion-{name}.png").write_bytes(
            confusion_png(report["overall"]["confusion"], name))
    return json_path, html_path


def summary(name: str, report: Dict[str, Any]) -> str:
    """A few lines for the terminal."""
    overall = report["overall"]
    lines = [f"{name}: {report['model']}",
             f"  {overall['utterances']} held-out lines; intent accuracy {_fmt(overall['intent_accuracy'])}, "
             f"macro-F1 {_fmt(overall['macro_f1'])}, identifiers (worst) {_fmt(overall['identifier_accuracy'])}"]
    for source, figures in report["sources"].items():
        lines.append(f"  {source}: macro-F1 {_fmt(figures['macro_f1'])} over {figures['utterances']} lines")
    weak = [(label, f) for label, f in overall["per_intent"].items() if f["f1"] < 0.9]
    for label, f in sorted(weak, key=lambda kv: kv[1]["f1"]):
        lines.append(f"  weak: {label} P {f['precision']:.3f} R {f['recall']:.3f} F1 {f['f1']:.3f} (n={f['n']})")
    for pair in overall["most_confused"][:3]:
        lines.append(f"  confused: {pair['gold']} → {pair['predicted']} ×{pair['count']}")
    lat = report["latency_ms"]
    lines.append(f"  parse latency p50 {lat['p50']} ms, p95 {lat['p95']} ms")
    return "\n".join(lines)
