// hookrelay card preview: a card as Teams would show it. Adaptive Cards
// (bare, or in the Workflows envelope) are rendered by Microsoft's own
// renderer (vendor/adaptivecards, the `adaptivecards` npm package); the
// legacy MessageCard, which no published renderer draws any more, by a
// faithful approximation of Teams' layout. Cards are webhook content: text
// is written with textContent, and links only keep http(s) targets.
"use strict";

(function (global) {
  // Teams' light theme, as far as a host config can say it.
  const foregroundColors = {
    default: { default: "#242424", subtle: "#616161" },
    accent: { default: "#5B5FC7", subtle: "#8B8CC7" },
    good: { default: "#237B4B", subtle: "#4E9F70" },
    warning: { default: "#835B00", subtle: "#9D7A2C" },
    attention: { default: "#C4314B", subtle: "#D0677A" },
    light: { default: "#FFFFFF", subtle: "#F5F5F5" },
    dark: { default: "#242424", subtle: "#616161" },
  };
  // Container styles by background: plain, emphasis, and the coloured ones.
  const containerStyles = {};
  for (const [style, backgroundColor] of [["default", "#FFFFFF"], ["emphasis", "#F5F5F5"], ["accent", "#E8EBFA"],
    ["good", "#E7F2DA"], ["attention", "#FCF4F6"], ["warning", "#FBF6D9"]]) {
    containerStyles[style] = { backgroundColor, foregroundColors };
  }
  const teamsHostConfig = {
    fontFamily: "'Segoe UI', system-ui, -apple-system, sans-serif",
    spacing: { small: 4, default: 8, medium: 16, large: 20, extraLarge: 24, padding: 16 },
    separator: { lineThickness: 1, lineColor: "#E1DFDD" },
    supportsInteractivity: true,
    fontSizes: { small: 12, default: 14, medium: 14, large: 18, extraLarge: 24 },
    fontWeights: { lighter: 200, default: 400, bolder: 600 },
    containerStyles,
    actions: { maxActions: 6, spacing: "default", buttonSpacing: 8, showCard: { actionMode: "inline" }, actionsOrientation: "horizontal", actionAlignment: "left" },
    adaptiveCard: { allowCustomStyle: true },
    imageSizes: { small: 32, medium: 52, large: 100 },
    factSet: {
      title: { color: "default", size: "default", isSubtle: false, weight: "bolder", wrap: true, maxWidth: 150 },
      value: { color: "default", size: "default", isSubtle: false, weight: "default", wrap: true },
      spacing: 8,
    },
  };

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function safeURL(u) {
    try {
      const url = new URL(String(u));
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  // inline writes Teams' small markdown subset (**bold**, *italic*,
  // [text](url), line breaks) as DOM nodes, never as HTML.
  function inline(parent, text) {
    const lines = String(text).split(/\r?\n|<br\s*\/?>/i);
    lines.forEach((line, i) => {
      if (i > 0) parent.appendChild(document.createElement("br"));
      const re = /\*\*([^*]+)\*\*|\*([^*]+)\*|\[([^\]]+)\]\(([^)\s]+)\)/g;
      let last = 0;
      let m;
      while ((m = re.exec(line)) !== null) {
        if (m.index > last) parent.appendChild(document.createTextNode(line.slice(last, m.index)));
        if (m[1] !== undefined) parent.appendChild(el("strong", null, m[1]));
        else if (m[2] !== undefined) parent.appendChild(el("em", null, m[2]));
        else {
          const href = safeURL(m[4]);
          const a = el(href ? "a" : "span", null, m[3]);
          if (href) {
            a.href = href;
            a.rel = "noopener noreferrer";
            a.target = "_blank";
          }
          parent.appendChild(a);
        }
        last = re.lastIndex;
      }
      if (last < line.length) parent.appendChild(document.createTextNode(line.slice(last)));
    });
  }

  // renderMessageCard approximates how Teams shows an Office 365 connector
  // card: a coloured top edge, the title, the text, each section (activity
  // title and subtitle, text, facts), then the actions as buttons.
  function renderMessageCard(card) {
    const root = el("div", "mc-card");
    const color = String(card.themeColor || "").replace(/^#/, "");
    if (/^[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$/.test(color)) root.style.borderTopColor = "#" + color;
    if (card.title) inline(root.appendChild(el("div", "mc-title")), card.title);
    if (card.text) inline(root.appendChild(el("div", "mc-text")), card.text);
    for (const s of Array.isArray(card.sections) ? card.sections : []) {
      const sec = root.appendChild(el("div", "mc-section"));
      if (s.activityTitle) inline(sec.appendChild(el("div", "mc-activity-title")), s.activityTitle);
      if (s.activitySubtitle) inline(sec.appendChild(el("div", "mc-activity-subtitle")), s.activitySubtitle);
      if (s.activityText) inline(sec.appendChild(el("div", "mc-text")), s.activityText);
      if (s.title) inline(sec.appendChild(el("div", "mc-section-title")), s.title);
      if (s.text) inline(sec.appendChild(el("div", "mc-text")), s.text);
      if (Array.isArray(s.facts) && s.facts.length) {
        const t = sec.appendChild(el("table", "mc-facts"));
        for (const f of s.facts) {
          const tr = t.appendChild(el("tr"));
          inline(tr.appendChild(el("th")), f.name || "");
          inline(tr.appendChild(el("td")), f.value || "");
        }
      }
    }
    const actions = Array.isArray(card.potentialAction) ? card.potentialAction : [];
    if (actions.length) {
      const bar = root.appendChild(el("div", "mc-actions"));
      for (const a of actions) {
        const target = (Array.isArray(a.targets) && a.targets[0] && a.targets[0].uri) || "";
        const b = bar.appendChild(el("button", "mc-action", a.name || "Open"));
        b.type = "button";
        b.title = target ? "opens " + target : "";
        b.disabled = true;
      }
    }
    if (!root.childElementCount && card.summary) inline(root.appendChild(el("div", "mc-text")), card.summary);
    return root;
  }

  function escapeHTML(s) {
    return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  // markdown turns the subset of markdown Teams renders in a TextBlock
  // (backslash escapes, **bold**, _italic_ and *italic*, [text](url), line
  // breaks) into HTML for Microsoft's renderer, which inserts what this
  // returns as HTML: everything is escaped first, so only the tags made
  // here exist, and a link keeps only an http(s) target.
  function markdown(text) {
    const kept = [];
    // Escaped characters become placeholders, so they cannot form markup.
    let s = String(text).replace(/\\([\\`*_{}\[\]()#+\-.!|>~])/g, (_, c) => { kept.push(c); return "\u0000" + (kept.length - 1) + "\u0000"; });
    s = escapeHTML(s);
    s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (m, label, url) => {
      const href = safeURL(url.replace(/&amp;/g, "&"));
      return href ? `<a href="${escapeHTML(href)}" target="_blank" rel="noopener noreferrer">${label}</a>` : label;
    });
    s = s.replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
    s = s.replace(/(^|[^\w*])\*([^*\n]+)\*(?!\w)/g, "$1<em>$2</em>");
    s = s.replace(/(^|[^\w])_([^_\n]+)_(?!\w)/g, "$1<em>$2</em>");
    s = s.replace(/\r?\n/g, "<br>");
    s = s.replace(/\u0000(\d+)\u0000/g, (_, i) => escapeHTML(kept[Number(i)]));
    return s;
  }

  function renderAdaptive(content, onAction) {
    if (!global.AdaptiveCards) throw new Error("the Adaptive Cards renderer did not load");
    const AC = global.AdaptiveCards;
    AC.AdaptiveCard.onProcessMarkdown = (text, result) => {
      result.outputHtml = markdown(text);
      result.didProcess = true;
    };
    const ac = new AC.AdaptiveCard();
    ac.hostConfig = new AC.HostConfig(teamsHostConfig);
    ac.onExecuteAction = (action) => {
      if (onAction) onAction(action.url ? "opens " + action.url : (action.title || "an action"));
    };
    ac.parse(content);
    const out = ac.render();
    if (!out) throw new Error("the Adaptive Cards renderer drew nothing");
    return out;
  }

  // render draws card (an object, or JSON text) into container, replacing
  // what was there, and returns the kind drawn: "adaptive" or
  // "messagecard". onAction, if given, hears a clicked action.
  function render(container, card, onAction) {
    container.replaceChildren();
    const c = typeof card === "string" ? JSON.parse(card) : card;
    if (!c || typeof c !== "object") throw new Error("the card is not a JSON object");
    const frame = container.appendChild(el("div", "card-frame"));
    if (c.type === "message" && Array.isArray(c.attachments)) {
      for (const a of c.attachments) frame.appendChild(renderAdaptive(a.content || {}, onAction));
      return "adaptive";
    }
    if (c.type === "AdaptiveCard") {
      frame.appendChild(renderAdaptive(c, onAction));
      return "adaptive";
    }
    if (c["@type"] === "MessageCard" || c.summary || c.text || c.sections) {
      frame.appendChild(renderMessageCard(c));
      return "messagecard";
    }
    throw new Error("not a card Teams knows: neither a Workflows message, an Adaptive Card nor a MessageCard");
  }

  global.HookrelayCard = { render, markdown };
})(window);
