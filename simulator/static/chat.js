// The chat page: one follower talking to the official account, plus the phone's SMS inbox.
// Everything goes through the simulator's backend, which signs, encrypts and delivers.
"use strict";

const OPENID_KEY = "tuibao-sim-openid";
// The phone panel shows only SMS that arrived since this follower appeared (a new user starts
// with an empty inbox); kept per openid so a reload keeps the same view.
const SMS_SINCE_KEY = "tuibao-sim-sms-since:";
const TIME_GAP_SECONDS = 5 * 60; // WeChat prints the time when 5 minutes passed
const $ = (id) => document.getElementById(id);
// WeChat and the insurer live in China: show their times in Beijing time, whatever the host.
const ZONE = "Asia/Shanghai";

const state = {
  openid: null,
  accountName: "退保助手",
  lastSeq: 0,
  lastShownAt: 0,
  menuJson: "",
  smsJson: "",
  smsSince: 0, // milliseconds on the insurer's clock (the one its sent_at are on)
  followedAt: null, // page-clock ms when a new user followed: the inbox starts there
  phoneChoice: "auto", // "auto": the phone that last received a code; or one demo phone
  inputMode: "keyboard",
};

async function api(path, options = {}) {
  const response = await fetch(path, {
    headers: { "Content-Type": "application/json" },
    ...options,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  let payload = null;
  try { payload = await response.json(); } catch (_) { /* empty body */ }
  if (!response.ok) throw new Error((payload && payload.error) || `HTTP ${response.status}`);
  return payload;
}

function log(text) {
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString("zh-CN", { hour12: false, timeZone: ZONE })} ${text}`;
  const list = $("sim-log");
  list.appendChild(li);
  list.scrollTop = list.scrollHeight; // never scroll the page itself

}

// ---- follower -------------------------------------------------------------------------
async function follow(openid) {
  const result = await api("/sim/follow", { method: "POST", body: openid ? { openid } : {} });
  state.openid = result.openid;
  localStorage.setItem(OPENID_KEY, result.openid);
  if (!openid) state.followedAt = Date.now(); // a new user: an empty phone inbox
  $("openid").textContent = result.openid;
  log("关注公众号（subscribe 事件已发出）");
}

async function start() {
  const params = new URLSearchParams(location.search);
  let openid = params.get("openid") || localStorage.getItem(OPENID_KEY);
  if (params.has("new")) openid = null;
  if (openid) {
    const feed = await api(`/sim/feed?openid=${encodeURIComponent(openid)}&after=0`);
    if (feed.subscribed) {
      state.openid = openid;
      $("openid").textContent = openid;
      state.smsSince = Number(localStorage.getItem(SMS_SINCE_KEY + openid) || 0);
    } else {
      await follow(openid); // the simulator restarted or the user left: follow again
    }
  } else {
    await follow(null);
  }
  await refreshConfig();
  pollFeed();
  pollSms();
  setInterval(refreshConfig, 5000);
}

// ---- sending --------------------------------------------------------------------------
async function sendText(text, menuId) {
  text = text.trim();
  if (!text) return;
  const body = { openid: state.openid, text };
  if (menuId !== undefined && menuId !== null) body.bizmsgmenuid = menuId;
  try {
    const result = await api("/sim/messages", { method: "POST", body });
    log(`发送文字，MsgId ${result.msg_id}`);
  } catch (error) {
    log(`发送失败：${error.message}`);
  }
  pollFeedOnce();
}

async function clickMenu(button) {
  $("submenu").hidden = true;
  if (button.type === "view") window.open(button.url, "_blank", "noopener");
  try {
    await api("/sim/clicks", { method: "POST",
      body: { openid: state.openid, key: button.key || button.url, type: button.type } });
    log(`点击菜单「${button.name}」（${button.type === "view" ? "VIEW" : "CLICK"} ${button.key || button.url}）`);
  } catch (error) {
    log(`菜单事件失败：${error.message}`);
  }
  pollFeedOnce();
}

$("input-bar").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value;
  $("text").value = "";
  sendText(text);
});

$("new-user").addEventListener("click", async () => {
  if (state.openid) localStorage.removeItem(SMS_SINCE_KEY + state.openid);
  localStorage.removeItem(OPENID_KEY);
  state.smsJson = "";
  renderSms([]); // cleared at once, before the page reloads for the new user
  location.search = "?new=1";
});

// ---- the custom menu ------------------------------------------------------------------
function setInputMode(mode) {
  const hasMenu = state.menuJson !== "" && state.menuJson !== "[]";
  state.inputMode = hasMenu ? mode : "keyboard";
  $("menu-bar").hidden = state.inputMode !== "menu";
  $("input-bar").hidden = state.inputMode === "menu";
  $("to-menu").hidden = !hasMenu;
  $("submenu").hidden = true;
  if (state.inputMode === "keyboard") $("text").focus();
}
$("to-keyboard").addEventListener("click", () => setInputMode("keyboard"));
$("to-menu").addEventListener("click", () => setInputMode("menu"));

function renderMenu(menu) {
  const bar = $("menu-buttons");
  bar.replaceChildren();
  menu.forEach((button, index) => {
    const el = document.createElement("button");
    el.type = "button";
    el.textContent = button.name;
    if (button.sub_button && button.sub_button.length) {
      el.classList.add("has-sub");
      el.addEventListener("click", () => toggleSubmenu(button, index, menu.length));
    } else {
      el.addEventListener("click", () => clickMenu(button));
    }
    bar.appendChild(el);
  });
}

function toggleSubmenu(button, index, count) {
  const box = $("submenu");
  if (!box.hidden && box.dataset.index === String(index)) { box.hidden = true; return; }
  box.replaceChildren();
  box.dataset.index = String(index);
  button.sub_button.forEach((sub) => {
    const el = document.createElement("button");
    el.type = "button";
    el.textContent = sub.name;
    el.addEventListener("click", () => clickMenu(sub));
    box.appendChild(el);
  });
  const barWidth = $("menu-buttons").offsetWidth;
  const slot = barWidth / count;
  const width = Math.max(slot - 12, 110);
  // Centred over its button, but never past the screen's right edge.
  const left = Math.min(48 + slot * index + (slot - width) / 2, 48 + barWidth - width - 6);
  box.style.left = `${left}px`;
  box.style.width = `${width}px`;
  box.hidden = false;
}

async function refreshConfig() {
  try {
    const config = await api("/sim/config");
    if (config.account_name !== state.accountName) {
      state.accountName = config.account_name;
      document.title = `微信模拟器 · ${config.account_name}`;
    }
    renderPhoneChoices(config.demo_phones || [config.demo_phone]);
    const menuJson = JSON.stringify(config.menu || []);
    if (menuJson !== state.menuJson) {
      const first = state.menuJson === "";
      state.menuJson = menuJson;
      renderMenu(config.menu || []);
      // As in WeChat, a chat with a menu opens on the menu.
      setInputMode(first || state.inputMode === "menu" ? "menu" : "keyboard");
      if (!first) log("公众号菜单已更新");
    }
  } catch (error) {
    log(`读取配置失败：${error.message}`);
  }
}

// ---- rendering the chat ---------------------------------------------------------------
const ANCHOR = /<a\s+href=(["'])(.*?)\1\s*>(.*?)<\/a>/gis;

function decodeEntities(text) {
  const area = document.createElement("textarea");
  area.innerHTML = text; // only for decoding &amp; and friends; never inserted as HTML
  return area.value;
}

function choiceButton(label, content, menuId) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = "choice";
  el.textContent = label;
  el.addEventListener("click", () => sendText(content, menuId));
  return el;
}

// Text from the account is plain text except for <a href> links, which WeChat renders;
// weixin://bizmsgmenu links send their text back when tapped.
function renderAccountText(container, text) {
  let last = 0;
  for (const match of text.matchAll(ANCHOR)) {
    container.appendChild(document.createTextNode(text.slice(last, match.index)));
    const href = decodeEntities(match[2]);
    const label = decodeEntities(match[3]);
    if (href.startsWith("weixin://bizmsgmenu")) {
      const query = new URLSearchParams(href.split("?")[1] || "");
      container.appendChild(choiceButton(label, query.get("msgmenucontent") || label,
                                         query.get("msgmenuid")));
    } else if (/^https?:\/\//.test(href)) {
      const a = document.createElement("a");
      a.href = href; a.target = "_blank"; a.rel = "noopener"; a.textContent = label;
      container.appendChild(a);
    } else {
      container.appendChild(document.createTextNode(label));
    }
    last = match.index + match[0].length;
  }
  container.appendChild(document.createTextNode(text.slice(last)));
}

function renderMsgMenu(container, msgmenu) {
  if (msgmenu.head_content) container.appendChild(document.createTextNode(msgmenu.head_content));
  for (const choice of msgmenu.list || []) {
    const el = choiceButton(choice.content, choice.content, choice.id);
    el.classList.add("menu-choice");
    container.appendChild(el);
  }
  if (msgmenu.tail_content) container.appendChild(document.createTextNode(msgmenu.tail_content));
}

function timeLabel(date) {
  const hm = date.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: ZONE });
  const day = (d) => d.toLocaleDateString("zh-CN", { month: "long", day: "numeric", timeZone: ZONE });
  return day(date) === day(new Date()) ? hm : `${day(date)} ${hm}`;
}

function renderItem(item) {
  const box = $("messages");
  if (item.msgtype === "debug") { log(item.content); return; }
  const at = new Date(item.at);
  const seconds = at.getTime() / 1000;
  if (item.side !== "notice" && seconds - state.lastShownAt >= TIME_GAP_SECONDS) {
    const label = document.createElement("div");
    label.className = "time-label";
    label.textContent = timeLabel(at);
    box.appendChild(label);
    state.lastShownAt = seconds;
  }
  if (item.side === "notice") {
    const notice = document.createElement("div");
    notice.className = "notice";
    const span = document.createElement("span");
    span.textContent = item.content;
    notice.appendChild(span);
    box.appendChild(notice);
  } else {
    const row = document.createElement("div");
    row.className = `msg from-${item.side}`;
    row.dataset.seq = item.seq;
    const avatar = document.createElement("div");
    avatar.className = "avatar";
    avatar.textContent = item.side === "account" ? "退" : "我";
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    if (item.side === "user") bubble.textContent = item.content;
    else if (item.msgtype === "msgmenu" && item.msgmenu) renderMsgMenu(bubble, item.msgmenu);
    else renderAccountText(bubble, item.content);
    row.append(avatar, bubble);
    box.appendChild(row);
  }
  box.scrollTop = box.scrollHeight;
}

let feedBusy = false;
async function pollFeedOnce() {
  if (feedBusy || !state.openid) return;
  feedBusy = true;
  try {
    const feed = await api(`/sim/feed?openid=${encodeURIComponent(state.openid)}&after=${state.lastSeq}`);
    for (const item of feed.items) {
      renderItem(item);
      state.lastSeq = Math.max(state.lastSeq, item.seq);
    }
    $("chat-title").textContent = feed.typing ? "对方正在输入..." : state.accountName;
  } catch (error) {
    $("chat-title").textContent = state.accountName;
  } finally {
    feedBusy = false;
  }
}

function pollFeed() {
  pollFeedOnce();
  setInterval(pollFeedOnce, 700);
}

// ---- the phone's SMS inbox ------------------------------------------------------------
// The phone's clock is the page's clock (the status bar): an SMS is shown at the moment it
// arrived by that clock, computed from how long ago the insurer sent it by its own clock.
const PHONE_TIME = { hour: "numeric", minute: "2-digit", hour12: false, timeZone: ZONE };
const phoneTime = (date) => date.toLocaleTimeString("zh-CN", PHONE_TIME);
const phoneDay = (date) => date.toLocaleDateString("zh-CN", { month: "long", day: "numeric", timeZone: ZONE });

function smsLabel(date) {
  return phoneDay(date) === phoneDay(new Date()) ? phoneTime(date) : `${phoneDay(date)} ${phoneTime(date)}`;
}

function renderPhoneChoices(phones) {
  const select = $("sms-phone");
  const have = [...select.options].map((o) => o.value).slice(1).join(",");
  if (have === phones.join(",")) return;
  while (select.options.length > 1) select.remove(1);
  for (const phone of phones) select.add(new Option(phone, phone));
  select.value = state.phoneChoice;
}

$("sms-phone").addEventListener("change", (event) => {
  state.phoneChoice = event.target.value;
  state.smsJson = "";
  pollSmsOnce();
});

function renderSms(messages) {
  const list = $("sms-list");
  list.replaceChildren();
  if (!messages.length) {
    const empty = document.createElement("p");
    empty.className = "sms-empty";
    empty.textContent = "暂无短信";
    list.appendChild(empty);
    return;
  }
  for (const sms of [...messages].reverse()) { // newest first from the API; oldest on top here
    const wrap = document.createElement("div");
    wrap.className = "sms";
    const sender = document.createElement("div");
    sender.className = "sms-sender";
    sender.textContent = `保险公司 · ${smsLabel(new Date(sms.receivedAt))}`;
    const bubble = document.createElement("div");
    bubble.className = "sms-bubble";
    const text = String(sms.text || "");
    const code = String(sms.code || "");
    const at = code ? text.indexOf(code) : -1;
    const codeEl = document.createElement("span");
    codeEl.className = "sms-code";
    codeEl.textContent = code;
    if (at >= 0) {
      bubble.append(text.slice(0, at), codeEl, text.slice(at + code.length));
    } else {
      bubble.append(text, code ? " " : "", code ? codeEl : "");
    }
    wrap.append(sender, bubble);
    list.appendChild(wrap);
  }
  list.scrollTop = list.scrollHeight;
}

// The inbox to show: the chosen phone's, or the one that received the newest SMS since this
// user appeared; only messages since then.
function pickInbox(phones) {
  const now = Date.now();
  const inboxes = phones.map(({ phone, messages }) => ({
    phone,
    messages: messages
      .filter((m) => Date.parse(m.sent_at) >= state.smsSince)
      .map((m) => ({ ...m, receivedAt: now - 1000 * Number(m.received_seconds_ago || 0) })),
  }));
  if (state.phoneChoice !== "auto") return inboxes.find((i) => i.phone === state.phoneChoice) || inboxes[0];
  const newest = (i) => (i.messages.length ? i.messages[0].receivedAt : -Infinity);
  const withSms = inboxes.filter((i) => i.messages.length);
  if (!withSms.length) return { phone: null, messages: [] };
  return withSms.reduce((best, i) => (newest(i) > newest(best) ? i : best));
}

async function pollSmsOnce() {
  if (!state.openid) return;
  try {
    const query = state.phoneChoice === "auto" ? "" : `?phone=${encodeURIComponent(state.phoneChoice)}`;
    const asked = Date.now();
    const answer = await api(`/sim/phone/sms${query}`);
    if (state.followedAt !== null) {
      // The follow moment on the insurer's clock: its "now" less the time since the follow.
      state.smsSince = Date.parse(answer.insurer_now) - (asked - state.followedAt);
      state.followedAt = null;
      localStorage.setItem(SMS_SINCE_KEY + state.openid, String(state.smsSince));
    }
    const inbox = pickInbox(answer.phones);
    $("demo-phone").textContent = inbox.phone || "—";
    // Re-rendered when the list changes or a minute passes (labels say the phone's time).
    const json = JSON.stringify([inbox.phone, inbox.messages.map((m) => [m.code, m.text, smsLabel(new Date(m.receivedAt))])]);
    if (json !== state.smsJson) {
      state.smsJson = json;
      renderSms(inbox.messages);
    }
    $("sms-status").textContent = `已连接保险公司沙盒 · ${inbox.messages.length} 条短信`;
  } catch (error) {
    $("sms-status").textContent = `短信暂不可用：${error.message}`;
  }
}

function pollSms() {
  pollSmsOnce();
  setInterval(pollSmsOnce, 1500);
}

function tickClock() {
  const now = new Date().toLocaleTimeString("zh-CN", { hour: "numeric", minute: "2-digit", hour12: false, timeZone: ZONE });
  document.querySelectorAll(".clock").forEach((el) => { el.textContent = now; });
}
tickClock();
setInterval(tickClock, 10000);

start().catch((error) => log(`启动失败：${error.message}`));
