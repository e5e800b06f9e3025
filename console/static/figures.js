"use strict";
// The supervisor's figures (console/figures.py): charts are SVG built here, no library.
const SVG = "http://www.w3.org/2000/svg";
const STEPS = [["started", "开始退保"], ["verified", "身份已验证"], ["quoted", "已报价"],
               ["confirmed", "已确认"], ["case_created", "已受理"], ["withdrawn", "已撤回"]];
const REASONS = {user_request: "用户要求", complaint: "投诉", misunderstood: "没听懂",
                 identity_locked: "验证锁定", insurer_unavailable: "保险公司不可用"};
let csrf = "";
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function seconds(value) {
  if (value === null || value === undefined) return "-";
  if (value < 120) return `${Math.round(value)} 秒`;
  if (value < 7200) return `${(value / 60).toFixed(1)} 分钟`;
  return `${(value / 3600).toFixed(1)} 小时`;
}
async function api(method, path, body) {
  const headers = {};
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, {method, headers, credentials: "same-origin",
                                    body: body === undefined ? undefined : JSON.stringify(body)});
  if (answer.status === 401) { window.location.assign("/signin"); throw new Error("signed out"); }
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(data.detail || `HTTP ${answer.status}`);
  return data;
}

function bars(rows, width = 640) {
  // rows: [label, value, shown]
  if (!rows.length) return el("p", {"class": "empty"}, "没有数据");
  const top = Math.max(1, ...rows.map((r) => r[1]));
  const barH = 22, gap = 8, labelW = 110, height = rows.length * (barH + gap);
  const chart = svg("svg", {width, height, viewBox: `0 0 ${width} ${height}`, "font-size": 13, role: "img"});
  rows.forEach(([label, value, shown], i) => {
    const y = i * (barH + gap), length = Math.max(1, (width - labelW - 230) * value / top);
    chart.append(svg("text", {x: labelW - 8, y: y + 16, "text-anchor": "end"}, label),
                 svg("rect", {x: labelW, y, width: length, height: barH, rx: 3, fill: "#2f7d5b"}),
                 svg("text", {x: labelW + length + 6, y: y + 16}, shown));
  });
  return chart;
}

function columns(points, width = 720, height = 160) {
  if (!points.length) return el("p", {"class": "empty"}, "没有数据");
  const top = Math.max(1, ...points.map((p) => Math.max(p.conversations, p.cases)));
  const slot = width / points.length, col = Math.max(2, Math.min(18, slot / 3));
  const chart = svg("svg", {width, height: height + 20, viewBox: `0 0 ${width} ${height + 20}`, "font-size": 11, role: "img"});
  points.forEach((p, i) => {
    const x = i * slot + slot / 2 - col;
    [[0, p.conversations, "#9cc5b3"], [col, p.cases, "#2f7d5b"]].forEach(([offset, value, fill]) => {
      const h = (height - 14) * value / top;
      const rect = svg("rect", {x: x + offset, y: height - h, width: col, height: h, fill});
      rect.append(svg("title", {}, `${p.date}: ${value}`));
      chart.append(rect);
    });
    if (points.length <= 14 || i % Math.ceil(points.length / 7) === 0) {
      chart.append(svg("text", {x: x + col, y: height + 14, "text-anchor": "middle"}, p.date.slice(5)));
    }
  });
  return chart;
}

function funnelCard(name, found) {
  const started = found.steps.started || 0;
  const rows = STEPS.map(([step, label]) => {
    const n = found.steps[step] || 0;
    return [label, n, started ? `${n}（${Math.round(100 * n / started)}%）` : `${n}`];
  });
  const card = el("section", {"class": "card"}, el("h3", {}, name), bars(rows));
  card.append(el("p", {}, `首条消息到受理：中位数 ${seconds(found.time_to_case.median_s)}，p90 ${seconds(found.time_to_case.p90_s)}`));
  if (found.stopped_at.length) {
    const table = el("table", {"class": "stopped"}, el("tr", {}, el("th", {}, "停在这个问题之后"), el("th", {}, "会话")));
    for (const s of found.stopped_at) table.append(el("tr", {}, el("td", {}, s.question), el("td", {}, String(s.conversations))));
    card.append(table);
  }
  return card;
}

function fallbackRow(entry) {
  const action = el("td");
  const show = (status) => {
    action.replaceChildren(el("a", {href: "/#review"}, status === "new" ? "已在标注队列 →" : `标注队列（${status}）→`));
  };
  if (entry.review_status) show(entry.review_status);
  else {
    const button = el("button", {type: "button"}, "送去标注");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const done = await api("POST", "/api/v1/figures/review",
                               {text: entry.text, count: entry.count, conversations: entry.conversations});
        show(done.status);
      } catch (error) { $("problem").textContent = error.message; button.disabled = false; }
    });
    action.append(button);
  }
  return el("tr", {"data-review-id": entry.review_id}, el("td", {}, entry.text),
            el("td", {}, String(entry.count)), el("td", {}, String(entry.conversations)), action);
}

async function load(since, until) {
  $("problem").textContent = "";
  const query = new URLSearchParams();
  if (since) query.set("since", since);
  if (until) query.set("until", until);
  try {
    const data = await api("GET", `/api/v1/figures/report?${query}`);
    $("summary").textContent = `${data.since} 至 ${data.until}：${data.conversations} 个会话`;
    const names = Object.keys(data.insurers);
    $("funnels").replaceChildren(...(names.length ? names.map((n) => funnelCard(n, data.insurers[n]))
                                                  : [el("p", {"class": "empty"}, "这段时间没有人开始退保。")]));
    $("daily").replaceChildren(columns(data.daily));
    const h = data.handoffs;
    $("handoff-summary").textContent = `转人工 ${h.total} 次；等待中位数 ${seconds(h.wait.median_s)}，p90 ${seconds(h.wait.p90_s)}`;
    $("handoffs").replaceChildren(bars(Object.entries(h.by_reason).map(([reason, e]) =>
      [REASONS[reason] || reason, e.count, `${e.count} 次 · 等待 ${seconds(e.wait.median_s)} · 仍在等 ${e.waiting}`])));
    document.querySelector("#fallbacks tbody").replaceChildren(...data.not_understood.map(fallbackRow));
    $("fallbacks-empty").hidden = data.not_understood.length > 0;
  } catch (error) { $("problem").textContent = error.message; }
}

async function start() {
  try { csrf = (await api("GET", "/api/v1/session")).csrf_token; } catch (error) { return; }
  const today = new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);  // Asia/Shanghai
  $("since").value = $("until").value = today;
  $("today").addEventListener("click", () => { $("since").value = $("until").value = today; load(today, today); });
  $("apply").addEventListener("click", () => load($("since").value, $("until").value));
  load(today, today);
}
start();
