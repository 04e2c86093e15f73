// Resident evaluation page: the one-time token travels in the URL fragment (never sent to servers in logs).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const token = decodeURIComponent(location.hash.slice(1));
  const { either } = window.cwatchI18n; // both languages until this browser has used the board (i18n.js)
  let rating = 0;

  function message(key) { $("fb-message").textContent = either(key); }

  async function load() {
    if (!token) return message("resident.invalid");
    const r = await fetch("/api/v1/feedback/" + encodeURIComponent(token));
    if (!r.ok) return message("resident.used");
    const t = await r.json();
    $("fb-title").textContent = t.title;
    $("fb-resolution").textContent = t.resolution ? either("resident.resolution", { text: t.resolution }) : "";
    for (let i = 1; i <= 5; i++) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "star";
      b.dataset.rating = String(i);
      b.textContent = "★".repeat(i) + " " + either("resident.rating." + i);
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
    message(r.ok ? "resident.thanks" : "resident.failed");
  });

  window.cwatchI18n.load().then(load).catch(() => message("resident.network"));
})();
