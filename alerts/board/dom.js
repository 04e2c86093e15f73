// The one DOM helper the board's pages share: `el(tag, attrs, ...children)` makes an element. `class` sets the
// class name, `data-*` and `aria-*` are attributes, other keys are properties (onclick, type, value...);
// null, undefined and false attributes are left out; children are nodes or text (never HTML).
"use strict";

window.cwatchDom = (function () {
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("data-") || k.startsWith("aria-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  return { el };
})();
