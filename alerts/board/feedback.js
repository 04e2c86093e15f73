// Resident evaluation page: the one-time token travels in the URL fragment (never sent to servers in logs).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const token = decodeURIComponent(location.hash.slice(1));
  const LABELS = ["很不满意", "不满意", "一般", "满意", "非常满意"];
  let rating = 0;

  function message(text) { $("fb-message").textContent = text; }

  async function load() {
    if (!token) return message("链接无效 Invalid link");
    const r = await fetch("/api/v1/feedback/" + encodeURIComponent(token));
    if (!r.ok) return message("链接已失效或已使用 This link has expired or was already used");
    const t = await r.json();
    $("fb-title").textContent = t.title;
    $("fb-resolution").textContent = t.resolution ? "处理情况：" + t.resolution : "";
    for (let i = 1; i <= 5; i++) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "star";
      b.dataset.rating = String(i);
      b.textContent = "★".repeat(i) + " " + LABELS[i - 1];
      b.addEventListener("click", () => {
        rating = i;
        document.querySelectorAll(".star").forEach((s) => s.classList.toggle("chosen", Number(s.dataset.rating) === i));
        $("fb-submit").disabled = false;
      });
      $("fb-stars").append(b);
    }
    $("fb-form").hidden = false;
  }

  $("fb-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await fetch("/api/v1/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token, rating, comment: $("fb-comment").value }),
    });
    $("fb-form").hidden = true;
    message(r.ok ? "感谢您的评价！ Thank you!" : "提交失败：链接已失效或已使用 The link has expired or was already used");
  });

  load().catch(() => message("网络错误 Network error"));
})();
