"use strict";
document.getElementById("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("signin-error");
  error.textContent = "";
  const answer = await fetch("/api/v1/session", {
    method: "POST", headers: {"Content-Type": "application/json"}, credentials: "same-origin",
    body: JSON.stringify({username: document.getElementById("username").value,
                          password: document.getElementById("password").value}),
  });
  if (answer.ok) { window.location.assign("/"); return; }
  const body = await answer.json().catch(() => ({}));
  error.textContent = body.detail || "登录失败";
});
