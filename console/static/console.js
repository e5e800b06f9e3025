"use strict";
// The agent console page: inbox, transcript, side panel, actions. Everything it shows comes
// masked from the JSON API; live updates arrive as server-sent events (/api/v1/stream).
const REASONS = {user_request: "用户要求转人工", complaint: "投诉", misunderstood: "两次没听懂",
                 identity_locked: "身份验证锁定", insurer_unavailable: "保险公司系统故障"};
const reasonText = (reason) => REASONS[reason] || "其他原因";
const STATES = {waiting: "等待中", taken: "处理中", closed: "已结束"};
// The audit log's actions as a supervisor reads them (every action console/*.py writes).
const AUDIT_ACTIONS = {sign_in: "登录", sign_out: "退出", view: "查看", take: "接手",
                       take_refused: "接手未成功", reply: "回复用户", note: "写内部备注",
                       handback: "交还机器人", closed: "结束对话", assign: "改派",
                       read_audit: "查看访问记录", review_label: "采纳标注",
                       review_reject: "不采用", review_import: "从最近对话导入",
                       review_flag: "回复作为训练样本", review_queue_add: "送去标注",
                       unlock: "解除登录锁定"};
const RATINGS = {good: "满意", ok: "一般", bad: "不满意"};
const CHANNELS = {wechat: "微信", rest: "REST", telegram: "Telegram"};
let me = null, csrf = "", tab = "waiting", current = null, currentChat = null, stream = null;

const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function api(method, path, body) {
  const headers = {};
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, {method, headers, credentials: "same-origin",
                                    body: body === undefined ? undefined : JSON.stringify(body)});
  if (answer.status === 401) { window.location.assign("/signin"); throw new Error("signed out"); }
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) { const error = new Error(data.detail || `HTTP ${answer.status}`); error.status = answer.status; throw error; }
  return data;
}

function waited(since) {
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(since)) / 1000));
  if (seconds < 60) return `${seconds}秒`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes}分钟` : `${Math.floor(minutes / 60)}小时${minutes % 60}分`;
}
function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString("zh-CN", {hour12: false, timeZone: "Asia/Shanghai"}) : "";
}
function showProblem(text) { $("problem").textContent = text || ""; }

async function loadList() {
  const chats = await api("GET", `/api/v1/chats?state=${tab}`);
  if (tab === "waiting") $("count-waiting").textContent = chats.length;
  const list = $("chat-list");
  list.replaceChildren(...chats.map((chat) => {
    const item = el("li", {"class": `chat-item ${chat.chat_id === current ? "selected" : ""}`,
                           "data-chat-id": chat.chat_id, "data-waiting-since": chat.waiting_since},
      el("div", {"class": "row"}, el("b", {"class": `reason-${chat.reason}`}, reasonText(chat.reason)),
         el("span", {"class": `wait ${chat.state}`}, chat.state === "waiting" ? `已等 ${waited(chat.waiting_since)}`
                                                                : STATES[chat.state])),
      el("div", {"class": "row small"}, `${CHANNELS[chat.channel] || chat.channel} · ${chat.policy_number || "无保单号"}`
         + (chat.assignee ? ` · ${chat.assignee}` : "")),
      el("div", {"class": "last"}, chat.last_user_message || ""));
    item.addEventListener("click", () => openChat(chat.chat_id));
    return item;
  }));
  if (tab !== "waiting") {
    api("GET", "/api/v1/chats?state=waiting").then((w) => { $("count-waiting").textContent = w.length; });
  }
}

// A tapped button or menu reaches the bot as its payload (/intent{...}): the agent reads what
// the user tapped, never the code.
const TAPPED = {affirm: "确认", deny: "取消", request_surrender: "退保",
                check_surrender_status: "退保进度", withdraw_surrender: "撤销退保申请",
                request_human: "转人工", find_policy: "找保单", delete_my_data: "删除我的信息"};
function userWords(text) {
  const payload = /^\/([a-z_]+)(\{.*\})?$/s.exec(text || "");
  if (!payload) return text;
  if (payload[1] === "greet") return "（用户关注了公众号或打开了对话）";
  if (payload[1] === "rate_agent") {
    const rating = /"agent_rating"\s*:\s*"(\w+)"/.exec(payload[2] || "");
    return `（点选：${RATINGS[rating && rating[1]] || "评价"}）`;
  }
  return `（点选：${TAPPED[payload[1]] || "一个按钮"}）`;
}

function renderTurns(turns) {
  $("transcript").replaceChildren(...turns.map((turn) => {
    const who = {user: "用户", bot: "机器人", agent: `客服 ${turn.author || ""}`,
                 note: `内部备注 · ${turn.author || ""}`, system: "系统"}[turn.who];
    const item = el("li", {"class": `turn ${turn.who}`}, el("div", {"class": "who"}, `${who} ${clock(turn.at)}`),
                    el("div", {"class": "text"}, turn.who === "user" ? userWords(turn.text) : turn.text));
    if (turn.who === "agent" && !turn.delivered) item.append(el("div", {"class": "error"}, turn.problem || "未送达"));
    if (turn.who === "agent" && turn.delivered) {
      const flag = el("button", {"class": "flag", "title": "把用户的这句话交给训练同事标注"}, "作为训练样本");
      flag.addEventListener("click", async () => {
        if (await act("flag", {at: turn.at})) showProblem("已加入待标注队列");
      });
      item.append(flag);
    }
    return item;
  }));
  $("transcript").scrollTop = $("transcript").scrollHeight;
}

function renderKnowledge(knows, chat) {
  $("handoff-box").hidden = false;
  $("handoff-reason").textContent = reasonText(chat.reason);
  $("handoff-reason").className = `reason-${chat.reason}`;
  $("upset-flag").hidden = !(knows.upset || chat.reason === "complaint");
  const rows = [["保单号", knows.policy_number || "—"], ["身份验证", knows.verification_text],
                ["进度", knows.stage_text || "—"], ["手机", knows.phone || "—"],
                ["案件号", knows.case_number || "—"], ["机器人", knows.paused ? "已暂停（人工处理中）" : "在回复"]];
  $("bot-knows").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const quote = knows.quote;
  $("quote").hidden = !quote;
  if (quote) {
    $("quote-product").textContent = quote.product_name || "";
    $("quote-lines").replaceChildren(...quote.lines.map((line) =>
      el("tr", {}, el("td", {}, line.label), el("td", {"class": "amount"}, `¥${line.amount}`))));
    $("quote-refund").textContent = `实际退款 ¥${quote.refund}，退到${quote.route}；预计 ${quote.expected_refund_date}，最晚 ${quote.legal_latest_date}`;
  }
}

function renderActions(chat) {
  const supervisor = me.role === "supervisor";
  const mine = chat.state === "taken" && (chat.assignee === me.name || supervisor);
  $("take").hidden = chat.state !== "waiting";
  $("handback").hidden = !mine;
  $("close").hidden = !(mine || (supervisor && chat.state === "waiting"));
  const open = chat.state !== "closed";
  $("reply-text").disabled = $("canned").disabled = $("add-note").disabled = !open;
  $("send").disabled = !mine;
  $("reply-text").placeholder = !open ? "对话已结束" : mine ? "回复用户（Enter 发送，Shift+Enter 换行）"
    : "接手后才能回复用户；现在可以写内部备注";
  $("composer-hint").textContent = !open ? "对话已结束，不能再回复" : mine ? "" : "接手后才能发送给用户";
  const assignable = supervisor && chat.state === "taken";
  if ($("assign-to").hidden !== !assignable || chat.chat_id !== $("assign-to").dataset.chatId) {
    $("assign-to").value = "";  // a new chat: nothing chosen, nothing happens by default
    $("assign").disabled = true;
  }
  $("assign-to").dataset.chatId = chat.chat_id;
  $("assign").hidden = $("assign-to").hidden = !assignable;
  const reason = reasonText(chat.reason);
  $("chat-title").textContent = `${CHANNELS[chat.channel] || chat.channel} 对话 · ${reason} · ${STATES[chat.state]}`
    + (chat.assignee ? ` · ${chat.assignee}` : "");
}

async function openChat(chatId) {
  if (chatId !== current) showProblem("");
  current = chatId;
  const data = await api("GET", `/api/v1/chats/${encodeURIComponent(chatId)}`);
  currentChat = data.chat;
  renderTurns(data.turns);
  renderKnowledge(data.bot_knows, data.chat);
  renderActions(data.chat);
  for (const item of document.querySelectorAll(".chat-item")) {
    item.classList.toggle("selected", item.dataset.chatId === chatId);
  }
  if (!stream || stream.watched !== chatId) listen(chatId);
  if (me.role === "supervisor") loadAudit(chatId);
}

async function act(path, body) {
  showProblem("");
  try { return await api("POST", `/api/v1/chats/${encodeURIComponent(current)}/${path}`, body); }
  catch (error) { showProblem(error.message); return null; }
  finally { await Promise.all([loadList(), current ? openChat(current) : null]); }
}

async function loadFigures() {
  if (me.role !== "supervisor") return;
  const f = await api("GET", "/api/v1/figures");
  const rated = await api("GET", "/api/v1/satisfaction");
  const liking = rated.rated ? `满意度 ${rated.average.toFixed(1)}/${rated.scale}（${rated.rated}人评价）` : "今日还没有评价";
  $("figures").hidden = false;
  $("figures").textContent = `等待 ${f.waiting} · 最长等待 ${f.waiting ? waited(new Date(Date.now() - f.longest_wait_s * 1000).toISOString()) : "—"}`
    + ` · 处理中 ${f.with_agents} · 今日已处理 ${f.handled_today} · 处理时长中位数 ${duration(f.median_handle_s)}`
    + ` · ${liking} · ${f.desk_open ? "服务时间内" : "非服务时间"}`;
  $("figures").title = rated.rated ? Object.entries(rated.counts).map(([k, n]) => `${RATINGS[k]} ${n}`).join(" · ") : "";
}

async function loadAudit(chatId) {
  const entries = await api("GET", `/api/v1/audit?chat_id=${encodeURIComponent(chatId)}`);
  const merged = auditRuns(entries);
  $("audit-box").hidden = false;
  $("audit-count").textContent = `（${entries.length} 条）`;
  $("audit").replaceChildren(...merged.slice(0, 30).map((run) => el("li", {},
    `${clock(run.first.at)} ${run.first.actor} ${auditText(run.first)}`,
    ...(run.times > 1 ? [" ", el("span", {"class": "times"}, `×${run.times}`)] : []))));
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return "不到1分钟";
  const minutes = Math.round(seconds / 60);
  return minutes < 60 ? `${minutes}分钟` : `${Math.floor(minutes / 60)}小时${minutes % 60}分`;
}

// Reading a chat's audit is part of reading the chat: one 查看.
const auditKind = (action) => (action === "read_audit" ? "view" : action);

function auditText(entry) {
  let text = AUDIT_ACTIONS[auditKind(entry.action)] || "其他操作";
  const detail = entry.detail || "";
  if (entry.action === "assign") text += detail === "to:-" ? "（放回队列）" : `给 ${detail.replace(/^to:/, "")}`;
  if (detail.startsWith("undelivered")) text += "（未送达）";
  return text;
}

// Consecutive entries of one person doing the same thing are one line: 查看 ×26 (a supervisor's
// reading of the audit beside a view is not counted again).
function auditRuns(entries) {
  const runs = [];
  for (const entry of entries) {
    const last = runs[runs.length - 1];
    const counts = entry.action === "read_audit" ? 0 : 1;
    if (last && last.first.actor === entry.actor && auditKind(last.first.action) === auditKind(entry.action)
        && (last.first.detail || "") === (entry.detail || "")) last.times += counts;
    else runs.push({first: entry, times: counts});
  }
  return runs;
}

function listen(chatId) {
  if (stream) stream.close();
  stream = new EventSource(`/api/v1/stream${chatId ? `?chat_id=${encodeURIComponent(chatId)}` : ""}`);
  stream.watched = chatId;
  stream.onopen = () => { $("live").textContent = "实时更新：已连接"; };
  stream.onerror = () => { $("live").textContent = "实时更新：重新连接中…"; };
  stream.addEventListener("queue", (event) => {
    const changes = JSON.parse(event.data);
    loadList();
    loadFigures();
    if (current && changes.some((c) => c.chat_id === current)) openChat(current);
  });
  stream.addEventListener("chat", () => { if (current) openChat(current); });
  stream.addEventListener("signed_out", () => window.location.assign("/signin"));
}

// ---------------------------------------------------------------- review (trainers, supervisors)
const REVIEW_REASONS = {fallback: "没听懂", low_score: "把握不大", corrected: "用户纠正", handoff: "转了人工",
                        dead_end: "听懂了却没接上"};
const LONG_TEXT = 80;  // characters of a message shown before 展开
let reviewStatus = "new", labelGroups = null, labelNames = {};

// An intent as a trainer reads it: 中文名, and the insurer for an insurer's own intent.
function intentName(intent) {
  if (!intent) return "—";
  if (intent === "nlu_fallback") return "没听懂";
  const known = labelNames[intent];
  if (!known) return intent;
  const name = known.name || (known.example ? `像“${known.example}”这样的话` : intent);
  return known.insurer ? `${name}（${known.insurer}）` : name;
}
function intentOption(intent) {
  const known = labelNames[intent] || {};
  return known.example ? `${intentName(intent)} · 例：${known.example}` : intentName(intent);
}

function messageCell(text) {
  const cell = el("td", {"class": "text"});
  if (text.length <= LONG_TEXT) { cell.append(text); return cell; }
  const shown = el("span", {"class": "message"}, `${text.slice(0, LONG_TEXT)}…`);
  const more = el("button", {type: "button", "class": "secondary more", "aria-expanded": "false"}, "展开");
  more.addEventListener("click", () => {
    const open = more.getAttribute("aria-expanded") !== "true";
    shown.textContent = open ? text : `${text.slice(0, LONG_TEXT)}…`;
    more.textContent = open ? "收起" : `展开（共${text.length}字）`;
    more.setAttribute("aria-expanded", String(open));
  });
  more.textContent = `展开（共${text.length}字）`;
  cell.append(shown, more);
  return cell;
}

function showView(view) {
  const main = document.querySelector("main");
  if (main) main.hidden = view !== "desk";
  $("review-view").hidden = view !== "review";
  document.querySelectorAll(".views button").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
  if (view === "review") loadReview();
}

function labelSelect(item) {
  const select = el("select", {"aria-label": "意图"}, el("option", {value: ""}, "选择意图…"));
  const group = (title, intents) => {
    const node = el("optgroup", {label: title});
    node.append(...intents.map((intent) => el("option", {value: intent}, intentOption(intent))));
    return node;
  };
  select.append(group("核心", labelGroups.core));
  for (const [insurer, intents] of Object.entries(labelGroups.insurers)) {
    const shown = (labelNames[intents[0]] || {}).insurer || insurer;
    select.append(group(`${shown}专有`, intents));
  }
  select.value = item.label || (labelGroups.all.has(item.predicted_intent) ? item.predicted_intent : "");
  return select;
}

function reviewRow(item) {
  const row = el("tr", {"class": "review-row", "data-item-id": item.id});
  const confidence = item.confidence === null ? "" : `（${Math.round(item.confidence * 100)}%）`;
  const cell = el("td", {"class": "label"});
  const select = labelSelect(item);
  const accept = el("button", {type: "button"}, "采纳");
  const reject = el("button", {type: "button", "class": "secondary"}, "不采用");
  const decide = async (path, body) => {
    $("review-problem").textContent = "";
    accept.disabled = reject.disabled = true;
    try {
      const done = await api("POST", `/api/v1/review/items/${encodeURIComponent(item.id)}/${path}`, body);
      row.classList.add("done");
      cell.replaceChildren(done.item.status === "labelled" ? `已采纳：${intentName(done.item.label)}` : "不采用");
      if (reviewStatus === "new") $("review-count").textContent = Math.max(0, Number($("review-count").textContent) - 1);
    } catch (error) {
      $("review-problem").textContent = error.message;
      accept.disabled = reject.disabled = false;
    }
  };
  accept.addEventListener("click", () => {
    if (!select.value) { $("review-problem").textContent = "请先选择一个意图"; return; }
    decide("label", {label: select.value});
  });
  reject.addEventListener("click", () => decide("reject"));
  if (reviewStatus === "new" || reviewStatus === "labelled" || reviewStatus === "rejected") {
    cell.append(select, accept, reject);
    if (item.labelled_by) cell.append(el("div", {"class": "hint"}, `由 ${item.labelled_by} 标注`));
  } else {
    cell.append(item.label ? intentName(item.label) : "—");
  }
  row.append(messageCell(item.text),
             el("td", {}, `${intentName(item.predicted_intent)}${confidence}`),
             el("td", {}, item.reasons.map((r) => REVIEW_REASONS[r] || r).join("、")),
             el("td", {}, String(item.count)), cell);
  return row;
}

async function loadReview() {
  if (labelGroups.all.size) $("review-problem").textContent = "";
  try {
    const data = await api("GET", `/api/v1/review/items?status=${reviewStatus}`);
    if (reviewStatus === "new") $("review-count").textContent = data.count;
    $("review-items").replaceChildren(...data.items.map(reviewRow));
    $("review-empty").hidden = data.count > 0 || reviewStatus === "new";
    $("review-empty-new").hidden = data.count > 0 || reviewStatus !== "new";
  } catch (error) { $("review-problem").textContent = error.message; }
}

async function importRecent() {
  $("review-problem").textContent = "";
  $("review-imported").textContent = "正在读取最近的对话…";
  $("review-import").disabled = true;
  try {
    const done = await api("POST", "/api/v1/review/import");
    if (reviewStatus !== "new") document.querySelector('.review-tabs button[data-status="new"]').click();
    else await loadReview();
    $("review-imported").textContent = done.new
      ? `导入了 ${done.new} 条新消息（最近对话里共 ${done.found} 条需要看）`
      : `最近对话里没有新的需要标注的消息（已有的 ${done.found} 条都在列表里）`;
  } catch (error) {
    $("review-imported").textContent = "";
    $("review-problem").textContent = error.message;
  } finally { $("review-import").disabled = false; }
}

async function setUpReview() {
  try { labelGroups = await api("GET", "/api/v1/review/labels"); }
  catch (error) { labelGroups = {core: [], insurers: {}}; $("review-problem").textContent = error.message; }
  labelGroups.all = new Set([...labelGroups.core, ...Object.values(labelGroups.insurers).flat()]);
  labelNames = await api("GET", "/api/v1/review/label-names").catch(() => ({}));
  $("review-import").addEventListener("click", importRecent);
  for (const button of document.querySelectorAll(".review-tabs button")) {
    button.addEventListener("click", () => {
      reviewStatus = button.dataset.status;
      document.querySelectorAll(".review-tabs button").forEach((b) => b.classList.toggle("active", b === button));
      loadReview();
    });
  }
  if (me.role === "supervisor") {
    $("views").hidden = false;
    for (const button of document.querySelectorAll(".views button")) {
      button.addEventListener("click", () => showView(button.dataset.view));
    }
    if (window.location.hash === "#review") showView("review");  // from the figures page
  }
}

async function start() {
  try {
    const session = await api("GET", "/api/v1/session");
    me = session.user; csrf = session.csrf_token;
  } catch (error) { return; }
  $("me").textContent = `${me.name}（${{agent: "客服", supervisor: "主管", trainer: "训练师"}[me.role]}）`;
  $("signout").addEventListener("click", async () => {
    await api("DELETE", "/api/v1/session").catch(() => null);
    window.location.assign("/signin");
  });
  if (me.role === "trainer" || me.role === "supervisor") await setUpReview();
  if (me.role === "trainer") {  // trainers label; they never see the desk's chats
    document.querySelector("main").remove();
    showView("review");
    return;
  }
  for (const button of document.querySelectorAll(".tabs button")) {
    button.addEventListener("click", () => {
      tab = button.dataset.state;
      document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b === button));
      loadList();
    });
  }
  const canned = await api("GET", "/api/v1/canned");
  $("canned").append(...canned.map((text) => el("option", {value: text}, text)));
  $("canned").addEventListener("change", () => {
    if ($("canned").value) $("reply-text").value = $("canned").value;
    $("canned").value = "";
    $("reply-text").focus();
  });
  if (me.role === "supervisor") {
    const agents = await api("GET", "/api/v1/agents");
    $("assign-to").append(el("option", {value: "", disabled: "", selected: ""}, "选择…"),
                          ...agents.map((a) => el("option", {value: a.name}, a.name)),
                          el("option", {value: "(queue)"}, "放回队列（机器人接着回复）"));
    $("assign-to").addEventListener("change", () => { $("assign").disabled = !$("assign-to").value; });
  }
  $("take").addEventListener("click", () => act("take"));
  $("handback").addEventListener("click", () => act("handback"));
  $("close").addEventListener("click", () => act("close"));
  $("assign").addEventListener("click", () => {
    const chosen = $("assign-to").value;
    if (!chosen) return;
    $("assign-to").value = "";
    $("assign").disabled = true;
    act("assign", {username: chosen === "(queue)" ? null : chosen});
  });
  const send = async (kind) => {
    const text = $("reply-text").value.trim();
    if (!text || !current) return;
    const done = await act(kind, {text});
    if (done) $("reply-text").value = "";
  };
  $("send").addEventListener("click", () => send("messages"));
  $("add-note").addEventListener("click", () => send("notes"));
  $("reply-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); if (!$("send").disabled) send("messages"); }
  });
  setInterval(() => {
    for (const item of document.querySelectorAll(".chat-item")) {
      const wait = item.querySelector(".wait");
      if (wait && wait.textContent.startsWith("已等")) wait.textContent = `已等 ${waited(item.dataset.waitingSince)}`;
    }
  }, 1000);
  listen(null);
  await loadList();
  await loadFigures();
}
start();
