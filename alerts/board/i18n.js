// The language of every page of the board: its texts (core/messages, served as /messages.json), the choice
// between 中文 and English, and the page's static texts (elements with data-i18n, data-i18n-placeholder, -title or
// -aria-label naming a catalog key). The choice is kept per browser in localStorage and in the `lang` cookie, so
// the server's reasons come in the same language. Chinese unless the browser chose English. Loaded first.
"use strict";

window.cwatchI18n = (function () {
  const LANGS = ["zh-CN", "en"];
  let messages = {};
  let lang = chosen();

  // "zh" (an older choice, or ?lang=zh) counts as zh-CN
  function known(value) {
    const v = value === "zh" ? "zh-CN" : value;
    return LANGS.includes(v) ? v : null;
  }

  function chosen() {
    const m = /(?:^|;\s*)lang=([^;]*)/.exec(document.cookie);
    return known(localStorage.getItem("cwatch.lang")) || (m && known(decodeURIComponent(m[1]))) || "zh-CN";
  }

  // The text of `key`, its `{name}` placeholders filled from `values`; the key itself when there is none.
  function tr(key, values) {
    const text = (messages[lang] || {})[key];
    if (text === undefined) return key;
    return values ? text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m)) : text;
  }

  // a name from names.toml (`names.status.open`), or the raw value when there is none
  const named = (table, value) => ((messages[lang] || {})[`names.${table}.${value}`] || value);
  // the board's own label of a value (`act.ack`), or the raw value when there is none
  const labelled = (prefix, value) => ((messages[lang] || {})[prefix + value] || value);

  function use(next) {
    lang = known(next) || lang;
    localStorage.setItem("cwatch.lang", lang);
    document.cookie = `lang=${encodeURIComponent(lang)}; path=/; max-age=31536000; SameSite=Strict`;
    document.documentElement.lang = lang;
    const title = document.querySelector("title[data-i18n]");
    if (title) document.title = "cwatch " + tr(title.dataset.i18n);
    for (const e of document.querySelectorAll("body [data-i18n]")) e.textContent = tr(e.dataset.i18n);
    for (const attr of ["placeholder", "title", "aria-label"]) {
      for (const e of document.querySelectorAll(`[data-i18n-${attr}]`)) e.setAttribute(attr, tr(e.getAttribute(`data-i18n-${attr}`)));
    }
    const button = document.getElementById("lang"); // the switch names the other language, in that language
    if (button) button.lang = lang === "zh-CN" ? "en" : "zh-CN";
  }

  async function load() {
    try {
      const r = await fetch("/messages.json", { credentials: "same-origin" });
      if (r.ok) messages = await r.json();
    } catch (e) {
      // the page's own (Chinese) texts stay; the page says when the server cannot be reached
    }
    use(lang);
  }

  return {
    tr, named, labelled, use, load,
    get lang() { return lang; },
    toggle() { use(lang === "zh-CN" ? "en" : "zh-CN"); },
  };
})();
