// grammarflow serve: one event stream for all of a browser's pages of one server.
// A browser opens at most six connections to a server (HTTP/1.1): a stream per page
// would leave a seventh page waiting for ever. This shared worker holds one stream,
// watching what all its pages watch, and hands each page the events of what it
// watches. A page says what it watches ({watch: [keys]}) and when it goes ({bye}).
"use strict";

const pages = new Set();
let source = null;
let watching = "";

function reopen() {
  const keys = new Set();
  for (const page of pages) for (const key of page.keys) keys.add(key);
  const now = [...keys].sort().join(",");
  if (now === watching && source) return;
  watching = now;
  if (source) source.close();
  source = null;
  if (!now) return;
  const query = [...keys].sort().map((k) => "watch=" + encodeURIComponent(k)).join("&");
  source = new EventSource("/events?" + query);
  const all = (message) => { for (const page of pages) page.postMessage(message); };
  source.addEventListener("change", (e) => {
    const data = JSON.parse(e.data);
    for (const page of pages) {
      if (page.keys.has(String(data.key))) page.postMessage({type: "change", data});
    }
  });
  source.addEventListener("ping", () => all({type: "ping"}));
  source.addEventListener("open", () => all({type: "open"}));
  source.addEventListener("error", () => all({type: "error"}));
}

onconnect = (e) => {
  const page = e.ports[0];
  page.keys = new Set();
  pages.add(page);
  page.onmessage = (m) => {
    if (m.data.watch) {
      page.keys = new Set(m.data.watch.map(String));
    } else if (m.data.bye) {
      pages.delete(page);
    }
    reopen();
  };
  page.start();
};
