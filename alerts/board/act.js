// One-tap action page: the link is /act.html#<ticket>.<token>; the fragment never reaches a server's logs.
// Opening the page changes nothing (mail scanners and link previews open links too); one tap on the button acts.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const [ticketPart, token] = decodeURIComponent(location.hash.slice(1)).split(".", 2);
  const ticketId = Number(ticketPart);
  const ACTIONS = {
    accept: ["接单", "Accept"],
    on_my_way: ["我在路上", "On my way"],
    resolve: ["已处理", "Mark resolved"],
    all_well: ["一切安好", "All is well"],
    send_someone: ["请派人上门", "Please send someone"],
  };
  const DONE = {
    accept: ["已接单，工单归您处理。", "Accepted: the ticket is yours."],
    on_my_way: ["已记录：您在路上。", "Noted: you are on your way."],
    resolve: ["已记录处理情况，工单已解决。", "Recorded: the ticket is resolved."],
    all_well: ["谢谢！已记录一切安好。", "Thank you: recorded that all is well."],
    send_someone: ["已通知工作人员上门。", "The worker has been asked to come."],
  };
  const REFUSED = {
    link_unknown: ["链接无效。", "This link is not valid."],
    link_used: ["此链接已经使用过，不能再次使用。", "This link was already used; it works once."],
    link_expired: ["此链接已过期。", "This link has expired."],
    link_other_ticket: ["此链接属于另一个工单。", "This link belongs to another ticket."],
    link_moved_on: ["工单已有新进展，此链接不再适用。", "The ticket has moved on; this link no longer applies."],
    link_not_allowed: ["您不能通过此链接操作此工单。", "You cannot act on this ticket through this link."],
    validation_error: ["请填写处理情况。", "Please say what was done."],
  };
  const STATUS = {
    open: "待接单 open", acknowledged: "已接单 acknowledged", in_progress: "处理中 in progress",
    resolved: "已解决 resolved", closed: "已关闭 closed",
  };

  function say(pair, extra) {
    $("act-message").textContent = pair[0] + " " + pair[1] + (extra ? " (" + extra + ")" : "");
  }

  async function post(path, body) {
    const r = await fetch("/api/v1/links/" + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({}));
    return { ok: r.ok, data };
  }

  function refused(data) {
    const code = (data.error && data.error.code) || "link_unknown";
    $("act-card").hidden = true;
    document.body.classList.add("act-refused");
    say(REFUSED[code] || REFUSED.link_unknown, code === "link_moved_on" ? data.error.message : "");
  }

  async function load() {
    if (!ticketId || !token) return say(REFUSED.link_unknown);
    const { ok, data } = await post("view", { ticket_id: ticketId, token });
    if (!ok) return refused(data);
    const label = ACTIONS[data.action];
    $("act-hello").textContent = data.recipient_name ? data.recipient_name + "，您好 Hello" : "";
    $("act-title").textContent = "#" + data.ticket_id + " " + data.title;
    $("act-where").textContent = data.where;
    $("act-status").textContent = "状态 Status: " + (STATUS[data.status] || data.status);
    $("act-go").textContent = label[0] + " " + label[1];
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
        return say(REFUSED.validation_error);
      }
      return refused(data);
    }
    $("act-card").hidden = true;
    document.body.classList.add("act-done");
    say(DONE[data.action], STATUS[data.status] || data.status);
  });

  load().catch(() => say(["网络错误，请稍后再试。", "Network error; try again."]));
})();
