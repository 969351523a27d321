// grammarflow serve: the pages' one script. Everything a run holds is put on the page
// with textContent (never parsed as markup); the picture's SVG, made by dot, is parsed as
// SVG and stripped of anything active before it is shown. The page asks the server for
// something only when the server's event stream says that something changed.
"use strict";

const body = document.body;
const page = body.dataset.page;
const runId = body.dataset.run;
const readOnly = body.dataset.readOnly === "1";
const csrf = (document.querySelector('meta[name="csrf"]') || {}).content || "";
const LOST_AFTER = 5000; // ms without a word from the stream: say it is lost

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// A node's children replaced by these (null and undefined left out, not "null").
function put(node, ...kids) {
  node.replaceChildren(...kids.filter((k) => k !== null && k !== undefined));
}

async function getJSON(url) {
  const r = await fetch(url, {credentials: "same-origin"});
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

async function post(url, data) {
  const r = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: {"content-type": "application/json", "x-csrf-token": csrf},
    body: JSON.stringify(data || {}),
  });
  let out;
  try { out = await r.json(); } catch (e) { out = {error: await r.text()}; }
  if (!r.ok) throw new Error(out.error || r.statusText);
  return out;
}

function when(t) {
  if (!t) return "";
  return new Date(t * 1000).toLocaleString();
}

function took(s) {
  if (s < 60) return s.toFixed(1) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
}

function short(v, n) {
  const t = JSON.stringify(v);
  return t.length > n ? t.slice(0, n - 1) + "…" : t;
}

// ------------------------------------------------------------------ the stream
// One stream for all of this browser's pages of the server (a shared worker holds it:
// a browser opens at most six connections to a server); it reconnects by itself and
// is sent at once what changed meanwhile. A ping every 2 s says the stream lives; 5 s
// without one, the page says it is lost. ``key``: "runs" (the list) or a run's id.
function stream(key, onChange) {
  const lost = document.getElementById("lost");
  const mark = document.getElementById("stream");
  let last = Date.now();
  let had = null;  // the id of the last change handled
  const alive = () => {
    last = Date.now();
    lost.hidden = true;
    mark.className = "stream on";
    mark.textContent = "live";
  };
  const heard = (type, data) => {
    if (type === "change") {
      alive();
      if (data.id !== had) { had = data.id; onChange(data); }
    } else if (type === "ping" || type === "open") {
      alive();
    } else if (type === "error") {
      mark.className = "stream off";
    }
  };
  if (window.SharedWorker) {
    const worker = new SharedWorker("/static/stream.js", {name: "grammarflow"});
    worker.port.onmessage = (m) => heard(m.data.type, m.data.data);
    worker.port.start();
    worker.port.postMessage({watch: [key]});
    window.addEventListener("pagehide", () => worker.port.postMessage({bye: true}));
  } else {
    const source = new EventSource("/events?watch=" + encodeURIComponent(key));
    for (const type of ["change", "ping", "open", "error"]) {
      source.addEventListener(type, (e) => heard(type, e.data ? JSON.parse(e.data) : null));
    }
  }
  setInterval(() => {
    if (Date.now() - last > LOST_AFTER) {
      lost.hidden = false;
      mark.className = "stream off";
      mark.textContent = "connection lost";
      body.dataset.stale = "1";
    } else {
      delete body.dataset.stale;
    }
  }, 1000);
}

// Run ``fetch`` now, or after the one running ends: never two at once, never a
// change missed.
function coalesced(fetchIt) {
  let running = false, again = false;
  const go = async () => {
    if (running) { again = true; return; }
    running = true;
    try { await fetchIt(); } catch (e) { console.error(e); }
    running = false;
    if (again) { again = false; go(); }
  };
  return go;
}

// ------------------------------------------------------------------ runs page
function runsPage() {
  const tbody = document.querySelector("#runs tbody");
  const refresh = coalesced(async () => {
    const runs = await getJSON("/api/runs");
    document.getElementById("none").hidden = runs.length > 0;
    put(tbody, ...runs.map((r) => {
      const counts = Object.entries(r.counts).map(([s, n]) => n + " " + s).join(", ");
      const glance = [];
      if (r.status === "broken") glance.push(el("span", {class: "bad"}, "BROKEN"));
      if (r.paused) glance.push(el("span", {class: "warn"}, "PAUSED"));
      if (r.waiting.length) glance.push(el("span", {class: "warn"},
        "waits for a person: " + r.waiting.join(", ")));
      if (r.status === "failed") glance.push(el("span", {class: "bad"}, "FAILED"));
      return el("tr", {class: "st-" + r.status, "data-run": r.run},
        el("td", {}, el("a", {href: "/runs/" + r.run}, String(r.run))),
        el("td", {class: "status"}, r.status),
        el("td", {}, r.workflow),
        el("td", {}, when(r.created)),
        el("td", {}, took(r.duration)),
        el("td", {title: counts}, r.tasks + (counts ? " (" + counts + ")" : "")),
        el("td", {}, r.open_holes + " open / " + r.holes),
        el("td", {}, ...glance, glance.length ? null : r.line));
    }));
  });
  refresh();
  stream("runs", refresh);
}

// ------------------------------------------------------------------ the picture
const ACTIVE = /^(on|formaction|xlink:href|href)/i;

// dot's SVG, parsed as SVG: no script, no foreign markup, no handlers, no links out.
function cleanSVG(text) {
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") return null;
  svg.querySelectorAll("script, foreignObject, iframe, a").forEach((n) => {
    if (n.nodeName === "a") n.replaceWith(...n.childNodes); else n.remove();
  });
  for (const n of [svg, ...svg.querySelectorAll("*")]) {
    for (const a of [...n.attributes]) if (ACTIVE.test(a.name)) n.removeAttribute(a.name);
  }
  return document.importNode(svg, true);
}

// Pan (drag) and zoom (wheel) by a transform of the canvas; kept across redraws.
function panZoom(box, canvas) {
  const view = {x: 0, y: 0, k: 1};
  const apply = () => {
    canvas.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.k})`;
  };
  box.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = box.getBoundingClientRect();
    const mx = e.clientX - r.left, my = e.clientY - r.top;
    const f = Math.exp(-e.deltaY * 0.0015);
    const k = Math.min(8, Math.max(0.05, view.k * f));
    view.x = mx - (mx - view.x) * (k / view.k);
    view.y = my - (my - view.y) * (k / view.k);
    view.k = k;
    apply();
  }, {passive: false});
  let drag = null;
  box.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    drag = {x: e.clientX - view.x, y: e.clientY - view.y, moved: false};
  });
  window.addEventListener("pointermove", (e) => {
    if (!drag) return;
    view.x = e.clientX - drag.x; view.y = e.clientY - drag.y;
    drag.moved = true;
    apply();
  });
  window.addEventListener("pointerup", () => { setTimeout(() => { drag = null; }, 0); });
  return {
    fit() {
      const svg = canvas.querySelector("svg");
      if (!svg) return;
      const b = svg.getBoundingClientRect();
      const w = (b.width / view.k) || 1, h = (b.height / view.k) || 1;
      const r = box.getBoundingClientRect();
      view.k = Math.min(1.5, r.width / w, Math.max(r.height, 300) / h);
      view.x = 0; view.y = 0;
      apply();
    },
    dragged() { return drag && drag.moved; },
    apply,
  };
}

// ------------------------------------------------------------------ run page
function runPage() {
  const slider = document.getElementById("slider");
  const caption = document.getElementById("caption");
  const canvas = document.getElementById("canvas");
  const box = document.getElementById("picture");
  const alternatives = document.getElementById("alternatives");
  const pz = panZoom(box, canvas);
  const expand = new Set();
  let live = true, last = 0, fitted = false, run = null, shownTask = null;
  let shownAs = null;  // what the task shown was drawn from: redrawn only when it changes

  const pictureURL = (at) => {
    const q = new URLSearchParams();
    if (at !== null) q.set("at", at);
    q.set("alternatives", alternatives.checked ? "1" : "0");
    for (const g of expand) q.append("expand", g);
    return `/api/runs/${runId}/picture?` + q;
  };
  const drawPicture = coalesced(async () => {
    const at = live ? null : +slider.value;
    const p = await getJSON(pictureURL(at));
    const svg = cleanSVG(p.svg);
    if (svg) put(canvas, svg);
    caption.textContent = p.caption;
    body.dataset.seq = p.seq;
    last = Math.max(last, p.last);
    slider.max = last;
    if (live) slider.value = p.seq;
    document.getElementById("live").classList.toggle("on", live);
    if (!fitted) { pz.fit(); fitted = true; }
  });

  const drawRun = coalesced(async () => {
    run = await getJSON(`/api/runs/${runId}`);
    last = Math.max(last, run.seq);
    slider.max = last;
    body.dataset.status = run.status;
    showVerdict(run);
    showRefusal(run);
    showSteer(run);
    showLists(run);
    if (shownTask) showTask(shownTask, false);
  });

  canvas.addEventListener("click", (e) => {
    if (pz.dragged()) return;
    const node = e.target.closest("g.node");
    if (!node) return;
    const name = (node.querySelector("title") || {}).textContent || "";
    if (name.startsWith("t:")) showTask(name.slice(2), true);
    else if (name.startsWith("g:") || name.startsWith("l:")) {
      expand.add(name.slice(2));
      drawPicture();
    }
  });
  slider.addEventListener("input", () => {
    live = +slider.value >= last;
    drawPicture();
  });
  document.getElementById("back").addEventListener("click", () => {
    slider.value = Math.max(0, +slider.value - 1); live = false; drawPicture();
  });
  document.getElementById("fwd").addEventListener("click", () => {
    slider.value = Math.min(last, +slider.value + 1); live = +slider.value >= last;
    drawPicture();
  });
  document.getElementById("live").addEventListener("click", () => { live = true; drawPicture(); });
  document.getElementById("fit").addEventListener("click", () => pz.fit());
  alternatives.addEventListener("change", drawPicture);

  drawRun();
  drawPicture();
  stream(runId, (change) => {
    last = Math.max(last, change.seq);
    slider.max = last;
    drawRun();
    if (live) drawPicture();
  });

  function showVerdict(r) {
    const v = document.getElementById("verdict");
    const started = r.created ? "started " + when(r.created) : "";
    put(v, 
      el("h1", {class: "st-" + r.status}, r.verdict.line),
      el("p", {class: "meta"}, r.workflow, " · ", started,
         " · ", r.tasks.length + " tasks, " + r.holes.length + " holes",
         r.paused ? el("b", {class: "warn"}, " · PAUSED") : null));
  }

  function showRefusal(r) {
    const s = document.getElementById("refusal");
    const f = r.refusal;
    s.hidden = !f;
    if (!f) return;
    const tried = (f.attempts || []).map((a) =>
      el("li", {}, el("code", {}, a.production), ": ", a.reason));
    put(s, 
      el("h2", {class: "bad"}, "BROKEN: the promise broken"),
      el("p", {class: "reason"}, f.reason),
      f.task ? el("p", {}, "by task ", el("a", {href: "#", class: "task-link",
        onclick: (e) => { e.preventDefault(); showTask(f.task, true); }}, f.task)) : null,
      f.hole ? el("p", {}, "aimed at hole ", el("code", {}, f.hole)) : null,
      tried.length ? el("p", {}, tried.length + " production(s) tried:") : null,
      tried.length ? el("ul", {}, ...tried) : null,
      f.message ? el("p", {}, "the refused change: ", el("code", {class: "message"},
        typeof f.message === "string" ? f.message : JSON.stringify(f.message))) : null);
  }

  function showSteer(r) {
    const s = document.getElementById("steer");
    s.hidden = readOnly || r.final && r.status !== "succeeded";
    if (s.hidden) return;
    const out = document.getElementById("said");
    const act = (label, id, fn) => el("button", {id, onclick: async () => {
      out.textContent = "…";
      try { out.textContent = (await fn()).said; } catch (e) {
        out.textContent = "refused: " + e.message; out.className = "said bad";
        return;
      }
      out.className = "said";
      drawRun();
    }}, label);
    const buttons = [];
    if (!r.final) {
      buttons.push(r.paused
        ? act("unpause", "unpause", () => post(`/api/runs/${runId}/unpause`))
        : act("pause", "pause", () => post(`/api/runs/${runId}/pause`)));
    }
    const alive = r.orchestrator && r.orchestrator.alive;
    if (!alive && !r.final) {  // nobody runs it: failed, interrupted, waiting, restarted
      buttons.push(act("resume", "resume", () => post(`/api/runs/${runId}/resume`)));
    }
    s.hidden = buttons.length === 0;
    put(document.getElementById("buttons"), ...buttons);
  }

  function showLists(r) {
    const link = (id) => el("a", {href: "#", class: "task-link", "data-task": id,
      onclick: (e) => { e.preventDefault(); showTask(id, true); }}, id);
    put(document.getElementById("running"), ...r.tasks
      .filter((t) => t.state === "running")
      .map((t) => {
        const p = r.progress[t.id];
        const bar = p ? el("progress", {value: p.done, max: p.total || p.done || 1}) : null;
        const words = p ? (p.total ? `${p.done} of ${p.total}` : `${p.done}`) : "";
        return el("li", {}, link(t.id), " ", el("span", {class: "kind"}, t.kind), " ", bar,
                  " ", words);
      }));
    put(document.getElementById("waiting"), ...r.tasks
      .filter((t) => t.state === "waiting")
      .map((t) => el("li", {}, link(t.id), ": ", t.asks || "")));
    put(document.getElementById("holes"), ...r.holes.map((h) => el("div",
      {class: "hole"},
      el("h3", {}, h.id, " ", el("span", {class: "kind"}, h.type + (h.open ? " (open)" : ""))),
      el("p", {class: "where"}, "between " + (h.args.join(", ") || "nothing")),
      h.constraints.length ? el("ul", {class: "promises"}, ...h.constraints.map((c) =>
        el("li", {}, c.shown, c.made !== undefined ? ` (${c.made} made)` : ""))) : null,
      h.productions.length ? el("p", {}, "may become: ", ...h.productions.map((p, i) =>
        el("code", {}, (i ? " | " : "") + p))) : null,
      h.narrowed.length ? el("p", {class: "narrowed"}, "narrowed away: ",
        h.narrowed.map((n) => n.production + " (by " + n.by + ")").join(", ")) : null)));
  }

  async function showTask(id, scroll) {
    shownTask = id;
    const s = document.getElementById("task");
    let t;
    try {
      t = await getJSON(`/api/runs/${runId}/task?id=` + encodeURIComponent(id));
    } catch (e) {
      s.hidden = false;
      put(s, el("p", {class: "bad"}, e.message));
      shownAs = null;
      return;
    }
    // a change elsewhere in the run leaves this task as it was: a form being filled
    // in is not drawn again under the user's hands
    const as = JSON.stringify([t, run && run.status]);
    if (!scroll && as === shownAs && !s.hidden) return;
    shownAs = as;
    const rows = [
      ["kind", t.kind], ["state", t.state], ["attempts", t.attempts],
      ["attributes", Object.keys(t.attrs).length ? JSON.stringify(t.attrs) : null],
      ["inputs", t.inputs !== undefined ? JSON.stringify(t.inputs) : null],
      ["output", t.output !== undefined ? JSON.stringify(t.output) : null],
      ["error", t.error],
    ].filter(([, v]) => v !== null && v !== undefined);
    const history = t.history.map((a) => el("li", {},
      `attempt ${a.attempt}: ${a.outcome ||
        (a.asks !== undefined ? "waits for an answer" : "running")}`, a.reason ? " — " + a.reason : "",
      a.stderr ? el("pre", {class: "stderr"}, a.stderr) : null));
    const parts = [
      el("h2", {}, "task ", el("code", {class: "task-id"}, t.id),
         el("button", {class: "close", onclick: () => {
           s.hidden = true; shownTask = null; shownAs = null; }},
            "×")),
      el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {class: "v-" + k},
        String(v))])),
      history.length ? el("h3", {}, "attempts") : null,
      history.length ? el("ol", {class: "attempts"}, ...history) : null,
    ];
    if (t.log) {
      parts.push(el("h3", {}, "log ", el("span", {class: "where"}, t.log.path)),
                 t.log.text !== null ? el("pre", {class: "log"}, t.log.text)
                                     : el("p", {class: "bad"}, t.log.error));
    }
    if (!readOnly && run && run.status !== "broken") {  // a broken promise is final
      parts.push(...steerTask(t));
    }
    put(s, ...parts);
    s.hidden = false;
    if (scroll) s.scrollIntoView({block: "nearest"});
  }

  function steerTask(t) {
    const out = el("p", {class: "said"});
    const parts = [];
    if (t.state === "waiting") parts.push(answerForm(t, out));
    if (t.state !== "pending") {
      const confirm = el("div", {class: "confirm", hidden: ""});
      parts.push(el("button", {id: "restart", onclick: async () => {
        const p = await getJSON(`/api/runs/${runId}/restart-preview?task=` +
                                encodeURIComponent(t.id));
        if (p.refused) {
          put(confirm, el("p", {class: "bad"}, "restart refused: " + p.refused));
        } else {
          put(confirm, 
            el("p", {}, `restarting ${t.id} sends ${p.restarted.length} task(s) back:`),
            el("ul", {class: "restarted"}, ...p.restarted.map((x) => el("li", {}, x))),
            p.vanished.length ? el("p", {}, "gone: " + p.vanished.join(", ")) : null,
            p.reopened.length ? el("p", {}, "open again: " + p.reopened.join(", ")) : null,
            el("button", {id: "confirm-restart", onclick: async () => {
              try {
                out.textContent = (await post(`/api/runs/${runId}/restart`, {task: t.id})).said;
              } catch (e) { out.textContent = "refused: " + e.message; }
              confirm.hidden = true;
              drawRun();
            }}, "restart them"),
            el("button", {onclick: () => { confirm.hidden = true; }}, "cancel"));
        }
        confirm.hidden = false;
      }}, "restart…"), confirm);
    }
    parts.push(out);
    return parts;
  }

  function answerForm(t, out) {
    const schema = (t.answer_type || {}).schema || {};
    let input;
    const type = schema.type;
    if (type === "boolean") {
      input = el("select", {name: "value"}, el("option", {value: "true"}, "true"),
                 el("option", {value: "false"}, "false"));
    } else if (Array.isArray(schema.enum)) {
      input = el("select", {name: "value"}, ...schema.enum.map((v) =>
        el("option", {value: JSON.stringify(v)}, JSON.stringify(v))));
    } else if (type === "integer" || type === "number") {
      input = el("input", {name: "value", type: "number",
                           step: type === "integer" ? "1" : "any"});
    } else if (type === "string") {
      input = el("input", {name: "value", type: "text"});
    } else {
      input = el("textarea", {name: "value", rows: "3",
                              placeholder: "JSON: 3, true, \"text\", [1, 2]"});
    }
    const read = () => {
      const text = input.value;
      if (type === "string") return text;
      if (type === "boolean" || Array.isArray(schema.enum)) return JSON.parse(text);
      if (type === "integer" || type === "number") return text === "" ? null : Number(text);
      try { return JSON.parse(text); } catch (e) { return text; }
    };
    return el("form", {id: "answer", onsubmit: async (e) => {
      e.preventDefault();
      try {
        out.textContent = (await post(`/api/runs/${runId}/answer`,
                                      {task: t.id, value: read()})).said;
        out.className = "said";
      } catch (err) { out.textContent = "refused: " + err.message; out.className = "said bad"; }
      drawRun();
    }}, el("label", {}, (t.asks || "answer") + " ",
           el("span", {class: "kind"}, (t.answer_type || {}).text || "any JSON"), " ", input),
       el("button", {type: "submit"}, "answer"));
  }
}

if (page === "runs") runsPage();
else if (page === "run") runPage();
