// The Telegram tab: one Telegram user talking to the bot. The simulator stands in for
// Telegram: it turns what the user does into updates, posts them to the registered webhook
// with its secret token, and shows what the bot sends through the Bot API.
"use strict";

const TG_CHAT_KEY = "tuibao-sim-telegram-chat";
const tg = { chatId: null, lastSeq: 0, bubbles: new Map(), timer: null, busy: false };

async function tgApi(path, body) {
  const options = body === undefined ? {} :
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  let payload = null;
  try { payload = await response.json(); } catch (_) { /* empty body */ }
  if (!response.ok) throw new Error((payload && payload.error) || `HTTP ${response.status}`);
  return payload;
}

async function tgEnsureChat() {
  if (tg.chatId) return;
  const params = new URLSearchParams(location.search);
  let chatId = params.has("new") ? null : localStorage.getItem(TG_CHAT_KEY);
  if (!chatId) {
    chatId = String((await tgApi("/sim/telegram/chats", {})).chat_id);
    localStorage.setItem(TG_CHAT_KEY, chatId);
  }
  tg.chatId = Number(chatId);
  $("tg-chat-id").textContent = chatId;
}

function tgKeyboard(markup, messageId) {
  const rows = (markup && markup.inline_keyboard) || [];
  if (!rows.length) return null;
  const box = document.createElement("div");
  box.className = "tg-keyboard";
  for (const row of rows) {
    const line = document.createElement("div");
    line.className = "tg-row";
    for (const button of row) {
      const el = document.createElement("button");
      el.type = "button";
      el.textContent = button.text;
      el.addEventListener("click", () => tgTap(messageId, button));
      line.appendChild(el);
    }
    box.appendChild(line);
  }
  return box;
}

function tgRender(item) {
  const box = $("tg-messages");
  if (item.side === "notice") {
    const notice = document.createElement("div");
    notice.className = "notice";
    const span = document.createElement("span");
    span.textContent = item.content;
    notice.appendChild(span);
    box.appendChild(notice);
  } else {
    const known = item.side === "bot" ? tg.bubbles.get(item.message_id) : null;
    if (known) { // the bot edited the keyboard of a message already shown
      const old = known.querySelector(".tg-keyboard");
      if (old) old.remove();
      const keys = tgKeyboard(item.reply_markup, item.message_id);
      if (keys) known.querySelector(".tg-bubble").appendChild(keys);
      return;
    }
    const row = document.createElement("div");
    row.className = `tg-msg from-${item.side}`;
    const bubble = document.createElement("div");
    bubble.className = "tg-bubble";
    bubble.textContent = item.content; // plain text, never HTML
    const keys = tgKeyboard(item.reply_markup, item.message_id);
    if (keys) bubble.appendChild(keys);
    row.appendChild(bubble);
    box.appendChild(row);
    if (item.side === "bot") tg.bubbles.set(item.message_id, row);
  }
  box.scrollTop = box.scrollHeight;
}

async function tgPoll() {
  if (tg.busy || !tg.chatId) return;
  tg.busy = true;
  try {
    const feed = await tgApi(`/sim/telegram/feed?chat_id=${tg.chatId}&after=${tg.lastSeq}`);
    for (const item of feed.items) {
      tgRender(item);
      tg.lastSeq = Math.max(tg.lastSeq, item.seq);
    }
    $("tg-webhook").textContent = feed.webhook || "（未设置）";
    $("tg-start").hidden = tg.lastSeq > 0;
  } catch (error) {
    $("tg-webhook").textContent = `读取失败：${error.message}`;
  } finally {
    tg.busy = false;
  }
}

async function tgSend(path, body, what) {
  try {
    const result = await tgApi(path, { chat_id: tg.chatId, ...body });
    log(`Telegram：${what}，update_id ${result.update_id}`);
  } catch (error) {
    log(`Telegram：${what}失败：${error.message}`);
  }
  tgPoll();
}

function tgTap(messageId, button) {
  tgSend("/sim/telegram/taps", { message_id: messageId, data: button.callback_data },
         `点击按钮「${button.text}」`);
}

$("tg-input-bar").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("tg-text").value.trim();
  $("tg-text").value = "";
  if (text) tgSend("/sim/telegram/messages", { text }, "发送文字");
});
$("tg-start").addEventListener("click", () => tgSend("/sim/telegram/messages", { text: "/start" }, "发送 /start"));
$("tg-attach").addEventListener("click", () => { $("tg-attach-menu").hidden = !$("tg-attach-menu").hidden; });
for (const el of document.querySelectorAll("#tg-attach-menu button")) {
  el.addEventListener("click", () => {
    $("tg-attach-menu").hidden = true;
    tgSend("/sim/telegram/media", { kind: el.dataset.kind }, `发送${el.textContent}`);
  });
}
$("tg-new-user").addEventListener("click", () => {
  localStorage.removeItem(TG_CHAT_KEY);
  location.hash = "telegram";
  location.reload();
});

async function showChannel(channel) {
  const telegram = channel === "telegram";
  $("wechat-phone").hidden = telegram;
  $("telegram-phone").hidden = !telegram;
  $("tab-wechat").setAttribute("aria-selected", String(!telegram));
  $("tab-telegram").setAttribute("aria-selected", String(telegram));
  $("tg-user").hidden = !telegram;
  if (telegram) {
    try {
      await tgEnsureChat();
    } catch (error) {
      log(`Telegram：无法开始：${error.message}`);
      return;
    }
    tgPoll();
    if (!tg.timer) tg.timer = setInterval(tgPoll, 700);
  } else if (tg.timer) {
    clearInterval(tg.timer);
    tg.timer = null;
  }
}
$("tab-wechat").addEventListener("click", () => { location.hash = ""; showChannel("wechat"); });
$("tab-telegram").addEventListener("click", () => { location.hash = "telegram"; showChannel("telegram"); });
if (location.hash === "#telegram") showChannel("telegram");
