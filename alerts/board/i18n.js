// The language of every page of the board: its texts (core/messages, served as /messages.json), the choice
// between 中文 and English, and the page's static texts (elements with data-i18n, data-i18n-placeholder, -title or
// -aria-label naming a catalog key). The choice is kept per browser in localStorage and in the `lang` cookie, so
// the server's reasons come in the same language. Chinese unless the browser chose English. Loaded first.
"use strict";

window.cwatchI18n = (function () {
  const LANGS = ["zh-CN", "en"];
  let messages = {};
  let lang = chosen();
  // whether this browser has used the board (its language is remembered then)
  let explicit = Boolean(known(localStorage.getItem("cwatch.lang")) || /(?:^|;\s*)lang=/.test(document.cookie));
  // whether the page shows a language it was told (`fromBrowser`, `assume`): used, not remembered
  let assumed = false;
  // whether the link asked for its language (`?lang=`), which the recipient's does not override
  let asked = false;

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
    return textIn(lang, key, values);
  }

  // A value `{ key: "names.status.open" }` is itself a text in the same language.
  function textIn(language, key, values) {
    const text = (messages[language] || {})[key];
    if (text === undefined) return key;
    if (!values) return text;
    return text.replace(/\{(\w+)\}/g, (m, k) => {
      if (!(k in values)) return m;
      const v = values[k];
      return v !== null && typeof v === "object" && v.key ? textIn(language, v.key, v.values) : String(v);
    });
  }

  // a name from names.toml (`names.status.open`), or the raw value when there is none; a status or role as
  // the board shows it on its own (`label.status.open`: "Open", not the "open" of a sentence) where it has one
  const named = (table, value) => {
    const m = messages[lang] || {};
    return m[`label.${table}.${value}`] || m[`names.${table}.${value}`] || value;
  };
  // the board's own label of a value (`act.ack`), or the raw value when there is none
  const labelled = (prefix, value) => ((messages[lang] || {})[prefix + value] || value);

  // A rule's title in the page's language, once the reader has chosen one (or the page assumes one): its own
  // for that language (`titles`, from a rule file's per-language title), else the part of a "中文 English"
  // title in that language; a title in one language (or ending in an id) stays as it is.
  const BOTH = /^(.*[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]\S*)\s+([A-Za-z][^\u3000-\u9fff\uff00-\uffef]*)$/;
  function title(text, titles) {
    if (!(explicit || assumed)) return text;
    if (titles && titles[lang]) return titles[lang];
    const m = BOTH.exec(String(text || ""));
    if (!m || !/[a-z]{2}/.test(m[2])) return text;
    return lang === "en" ? m[2] : m[1];
  }

  // Show the page in `next`; `remember` (the board's pages) keeps it for this browser and tells the server.
  function use(next, remember) {
    lang = known(next) || lang;
    if (remember) explicit = true;
    if (explicit) {
      localStorage.setItem("cwatch.lang", lang);
      document.cookie = `lang=${encodeURIComponent(lang)}; path=/; max-age=31536000; SameSite=Strict`;
    }
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

  // The reader's own language as the server knows it (`lang` of a one-tap link's recipient), unless the link
  // asked for one (`?lang=`) or this browser has chosen one: the page shows it, without remembering it.
  function assume(next) {
    if (explicit || asked || !known(next)) return;
    assumed = true;
    use(next, false);
  }

  // A page anyone may open from a message, shown in one language (the resident's evaluation, a one-tap page
  // until its recipient's language is known): `?lang=`, else
  // this browser's choice (the board's, or this page's switch), else the first of the browser's languages (what
  // it sends as Accept-Language) the catalog has, else Chinese. Used, not remembered, until the switch is.
  function fromBrowser() {
    const tag = (v) => ({ zh: "zh-CN", en: "en" })[String(v || "").split(/[-_]/)[0].toLowerCase()] || null;
    const own = (navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language]).map(tag).find(Boolean);
    const fromUrl = tag(new URLSearchParams(location.search).get("lang"));
    asked = Boolean(fromUrl);
    lang = fromUrl || (explicit ? lang : own) || "zh-CN";
    assumed = true;
  }

  async function load(remember) {
    try {
      const r = await fetch("/messages.json", { credentials: "same-origin" });
      if (r.ok) messages = await r.json();
    } catch (e) {
      // the page's own (Chinese) texts stay; the page says when the server cannot be reached
    }
    use(lang, remember);
  }

  return {
    tr, named, labelled, title, use, load, assume, fromBrowser,
    get lang() { return lang; },
    toggle() { use(lang === "zh-CN" ? "en" : "zh-CN", true); },
  };
})();
