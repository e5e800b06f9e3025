"""The funnel report as text and as one self-contained HTML page (inline SVG, no CDN).

Input: the figures of ``training.report_funnel.funnel_figures`` (what ``--json`` prints).
"""
from __future__ import annotations

import html
from typing import Any, Dict, List, Optional, Sequence, Tuple

from observability.metrics import FUNNEL_STEPS

STEP_NAMES = {"started": "开始退保", "verified": "身份已验证", "quoted": "已报价",
              "confirmed": "已确认", "case_created": "已受理", "withdrawn": "已撤回"}


def _seconds(value: Optional[float]) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _period(figures: Dict[str, Any]) -> str:
    if not figures.get("since") and not figures.get("until"):
        return "all days" + (f", {figures['insurer']}" if figures.get("insurer") else "")
    return f"{figures.get('since') or '…'} – {figures.get('until') or '…'}" + (
        f", {figures['insurer']}" if figures.get("insurer") else "")


def render_text(figures: Dict[str, Any]) -> str:
    lines = [f"Surrender funnel {_period(figures)}: {figures['conversations']} conversation(s)"]
    if not figures["insurers"]:
        lines.append("  no surrender started")
    for insurer, found in figures["insurers"].items():
        lines.append(f"\n{insurer}")
        started = found["steps"]["started"] or 0
        for step in FUNNEL_STEPS:
            count = found["steps"][step]
            share = f"{100 * count / started:5.1f} %" if started else "      "
            lines.append(f"  {step:<13} {count:>6}  {share}")
        to_case = found["time_to_case"]
        lines.append(f"  first message to case: median {_seconds(to_case['median_s'])}, "
                     f"p90 {_seconds(to_case['p90_s'])} ({to_case['count']} case(s))")
        if found["stopped_at"]:
            lines.append("  stopped after being asked:")
            lines += [f"    {s['conversations']:>5}  {s['question']}" for s in found["stopped_at"]]
    handoffs = figures["handoffs"]
    lines.append(f"\nHandoffs: {handoffs['total']}, wait median "
                 f"{_seconds(handoffs['wait']['median_s'])}, p90 {_seconds(handoffs['wait']['p90_s'])}")
    for reason, entry in handoffs["by_reason"].items():
        lines.append(f"  {reason:<20} {entry['count']:>5}  waiting {entry['waiting']:>3}  "
                     f"wait median {_seconds(entry['wait']['median_s'])}")
    lines.append("\nNot understood most often (masked):")
    lines += [f"  {e['count']:>5}  {e['text']}" for e in figures["not_understood"]] or ["  none"]
    return "\n".join(lines)


# ---------------------------------------------------------------- SVG charts
def bar_chart(rows: Sequence[Tuple[str, float, str]], *, width: int = 640, unit: str = ""
              ) -> str:
    """Horizontal bars: (label, value, shown text)."""
    if not rows:
        return '<p class="empty">没有数据</p>'
    top = max((v for _, v, _ in rows), default=0) or 1
    bar_h, gap, label_w = 22, 8, 175
    height = len(rows) * (bar_h + gap)
    parts = [f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             'xmlns="http://www.w3.org/2000/svg" font-size="13">']
    for index, (label, value, shown) in enumerate(rows):
        y = index * (bar_h + gap)
        length = (width - label_w - 150) * value / top
        parts.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">'
                     f'{html.escape(label)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{max(length, 1):.1f}" height="{bar_h}" '
                     f'rx="3" fill="#2f7d5b"/>'
                     f'<text x="{label_w + length + 6:.1f}" y="{y + 16}">'
                     f'{html.escape(shown)}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def column_chart(points: Sequence[Tuple[str, float, float]], *, width: int = 560,
                 height: int = 180) -> str:
    """Daily columns: (day, conversations, cases)."""
    if not points:
        return '<p class="empty">没有数据</p>'
    top = max(max(a, b) for _, a, b in points) or 1
    slot = width / len(points)
    col = max(2.0, min(18.0, slot / 3))
    parts = [f'<svg role="img" width="{width}" height="{height + 20}" '
             f'viewBox="0 0 {width} {height + 20}" xmlns="http://www.w3.org/2000/svg" '
             'font-size="11">']
    for index, (day, conversations, cases) in enumerate(points):
        x = index * slot + slot / 2 - col
        for offset, value, colour in ((0, conversations, "#9cc5b3"), (col, cases, "#2f7d5b")):
            h = (height - 14) * value / top
            parts.append(f'<rect x="{x + offset:.1f}" y="{height - h:.1f}" width="{col:.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{html.escape(day)}: '
                         f'{value:g}</title></rect>')
        if len(points) <= 14 or index % max(1, len(points) // 7) == 0:
            parts.append(f'<text x="{x + col:.1f}" y="{height + 14}" text-anchor="middle">'
                         f'{html.escape(day[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def funnel_rows(steps: Dict[str, int]) -> List[Tuple[str, float, str]]:
    started = steps.get("started") or 0
    rows = []
    for step in FUNNEL_STEPS:
        count = steps.get(step, 0)
        share = f" ({100 * count / started:.0f}%)" if started else ""
        rows.append((f"{STEP_NAMES[step]} {step}", count, f"{count}{share}"))
    return rows


STYLE = """
body{font-family:system-ui,"PingFang SC","Noto Sans CJK SC",sans-serif;margin:24px;color:#1d2b25;
max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #d5e3dc}
section.card{display:inline-block;vertical-align:top;margin:0 24px 16px 0}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #e6eee9;
text-align:left;font-size:13px}.num{text-align:right}.empty{color:#889}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
"""


def render_html(figures: Dict[str, Any], title: str = "退保漏斗 · Tuibao surrender funnel") -> str:
    esc = html.escape
    out = [f"<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
           f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
           f"<h1>{esc(title)}</h1><p>{esc(_period(figures))} · "
           f"{figures['conversations']} 个会话 conversations</p>", "<h2>漏斗 Funnel</h2>"]
    if not figures["insurers"]:
        out.append('<p class="empty">这段时间没有人开始退保。</p>')
    for insurer, found in figures["insurers"].items():
        to_case = found["time_to_case"]
        out.append(f'<section class="card"><h3>{esc(insurer)}</h3>'
                   f'{bar_chart(funnel_rows(found["steps"]))}'
                   f'<p>首条消息到受理 first message to case: 中位数 median '
                   f'{_seconds(to_case["median_s"])}, p90 {_seconds(to_case["p90_s"])}</p>')
        if found["stopped_at"]:
            out.append("<table><tr><th>停在哪个问题 stopped after</th><th class=num>会话</th></tr>")
            out += [f"<tr><td>{esc(s['question'])}</td><td class=num>{s['conversations']}</td></tr>"
                    for s in found["stopped_at"]]
            out.append("</table>")
        out.append("</section>")
    out.append('<h2>每天 Daily</h2><p class="legend"><span style="background:#9cc5b3"></span>'
               '会话 conversations<span style="background:#2f7d5b"></span>受理 cases</p>')
    out.append(column_chart([(d["date"], d["conversations"], d["cases"])
                             for d in figures["daily"]]))
    handoffs = figures["handoffs"]
    out.append(f"<h2>转人工 Handoffs</h2><p>{handoffs['total']} 次，等待中位数 wait median "
               f"{_seconds(handoffs['wait']['median_s'])}, p90 "
               f"{_seconds(handoffs['wait']['p90_s'])}</p>")
    out.append(bar_chart([(reason, e["count"], f"{e['count']} · 等待 "
                           f"{_seconds(e['wait']['median_s'])}")
                          for reason, e in handoffs["by_reason"].items()]))
    out.append("<h2>没看懂的消息 Not understood (masked)</h2>")
    if figures["not_understood"]:
        out.append("<table><tr><th>消息</th><th class=num>次数</th><th class=num>会话</th></tr>")
        out += [f"<tr><td>{esc(e['text'])}</td><td class=num>{e['count']}</td>"
                f"<td class=num>{e['conversations']}</td></tr>" for e in figures["not_understood"]]
        out.append("</table>")
    else:
        out.append('<p class="empty">没有</p>')
    out.append("<p class=empty>保险公司接口耗时 insurer latency: Prometheus "
               "<code>tuibao_insurer_call_seconds</code>, Grafana board “Tuibao”.</p>")
    out.append("</body></html>")
    return "\n".join(out)
