// One-tap action page: the link is /act.html#<ticket>.<token>; the fragment never reaches a server's logs.
// Opening the page changes nothing (mail scanners and link previews open links too); one tap on the button acts.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const [ticketPart, token] = decodeURIComponent(location.hash.slice(1)).split(".", 2);
  const ticketId = Number(ticketPart);
  // One language: the recipient's once the link is read, else `?lang=`, the board's choice in this browser, the
  // browser's own, Chinese (i18n.js `fromBrowser`, `assume`); a refused link never learns its recipient's.
  const { tr } = window.cwatchI18n;
  const REFUSED = ["link_unknown", "link_used", "link_expired", "link_other_ticket", "link_moved_on",
    "link_not_allowed", "validation_error"];
  const status = (s) => tr("onetap.status", { status: { key: "onetap.state." + s } });

  function say(key, extra) {
    $("act-message").textContent = tr(key) + (extra ? " (" + extra + ")" : "");
  }

  async function post(path, body) {
    const r = await fetch("/api/v1/links/" + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept-Language": window.cwatchI18n.lang },
      body: JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({}));
    return { ok: r.ok, data };
  }

  function refused(data) {
    const code = (data.error && data.error.code) || "link_unknown";
    $("act-card").hidden = true;
    document.body.classList.add("act-refused");
    say("onetap." + (REFUSED.includes(code) ? code : "link_unknown"), code === "link_moved_on" ? data.error.message : "");
  }

  async function load() {
    if (!ticketId || !token) return say("onetap.link_unknown");
    const { ok, data } = await post("view", { ticket_id: ticketId, token });
    if (!ok) return refused(data);
    window.cwatchI18n.assume(data.lang);
    $("act-hello").textContent = data.recipient_name ? tr("onetap.hello", { name: data.recipient_name }) : "";
    $("act-title").textContent = "#" + data.ticket_id + " " + window.cwatchI18n.title(data.title, data.titles);
    $("act-where").textContent = data.where;
    $("act-status").textContent = status(data.status);
    $("act-go").textContent = tr("onetap.action." + data.action);
    $("act-go").dataset.action = data.action;
    $("act-note-label").hidden = !data.note_required;
    $("act-card").hidden = false;
  }

  $("act-go").addEventListener("click", async () => {
    $("act-go").disabled = true;
    const note = $("act-note").value;
    const { ok, data } = await post("act", { ticket_id: ticketId, token, note: note || null });
    if (!ok) {
      const code = data.error && data.error.code;
      if (code === "validation_error" || code === "invalid") {
        $("act-go").disabled = false;
        return say("onetap.validation_error");
      }
      return refused(data);
    }
    $("act-card").hidden = true;
    document.body.classList.add("act-done");
    say("onetap.done." + data.action, status(data.status));
  });

  window.cwatchI18n.fromBrowser();
  window.cwatchI18n.load().then(load).catch(() => say("onetap.network"));
})();
