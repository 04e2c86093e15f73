// Resident evaluation page: the one-time token travels in the URL fragment (never sent to servers in logs).
// One language: `?lang=`, else the browser's (i18n.js `fromBrowser`), Chinese by default; the switch changes it.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const token = decodeURIComponent(location.hash.slice(1));
  const I18N = window.cwatchI18n;
  const { tr, title } = I18N;
  let rating = 0;
  let ticket = null;
  let said = null; // the key of the message shown, if any

  function message(key) {
    said = key;
    $("fb-message").textContent = tr(key);
  }

  // the texts that come with the ticket, in the page's language
  function draw() {
    if (said) $("fb-message").textContent = tr(said);
    if (!ticket) return;
    $("fb-title").textContent = title(ticket.title, ticket.titles);
    $("fb-resolution").textContent = ticket.resolution ? tr("resident.resolution", { text: ticket.resolution }) : "";
    for (const b of document.querySelectorAll(".star")) {
      b.textContent = "★".repeat(Number(b.dataset.rating)) + " " + tr("resident.rating." + b.dataset.rating);
    }
  }

  async function load() {
    if (!token) return message("resident.invalid");
    const r = await fetch("/api/v1/feedback/" + encodeURIComponent(token));
    if (!r.ok) return message("resident.used");
    ticket = await r.json();
    for (let i = 1; i <= 5; i++) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "star";
      b.dataset.rating = String(i);
      b.addEventListener("click", () => {
        rating = i;
        document.querySelectorAll(".star").forEach((s) => s.classList.toggle("chosen", Number(s.dataset.rating) === i));
        $("fb-submit").disabled = false;
      });
      $("fb-stars").append(b);
    }
    draw();
    $("fb-form").hidden = false;
  }

  $("lang").addEventListener("click", () => {
    I18N.toggle();
    draw();
  });

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

  I18N.fromBrowser();
  I18N.load().then(load).catch(() => message("resident.network"));
})();
