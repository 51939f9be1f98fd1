// The app shell: token, theme, routes, live events, the service worker.
import { adoptToken, getToken } from "./lib/token.js";
import { applyTheme, loadSettings } from "./lib/settings.js";
import { match } from "./lib/router.js";
import { listen } from "./lib/sse.js";
import { apiUrl, prefetch } from "./lib/api.js";
import { clear, h } from "./lib/dom.js";
import { registerServiceWorker } from "./lib/pwa.js";
import * as pitlane from "./views/pitlane.js";
import * as settingsView from "./views/settings.js";
import * as tracks from "./views/tracks.js";
import * as help from "./views/help.js";

const main = document.getElementById("main");
const banner = document.getElementById("banner");

/** What every view gets: where to draw, the live event bus, navigation, and a way to
 * say the token was refused. */
const app = {
  events: new EventTarget(),
  navigate,
  tokenRefused() {
    showHelp("refused");
  },
  notice(message, { error = false, action = null } = {}) {
    clear(banner);
    if (!message) return;
    banner.append(h("div.panel.notice", { class: error ? "error" : "" }, h("span", {}, message), action));
  },
};

let cleanup = null;
let renderId = 0;

async function render() {
  const id = ++renderId;
  if (cleanup) {
    try {
      cleanup();
    } catch {
      /* a view's cleanup must not stop the next view */
    }
    cleanup = null;
  }
  const route = match(location.pathname);
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === route.name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!getToken()) {
    showHelp("missing");
    return;
  }
  clear(main);
  let view;
  if (route.name === "pitlane") view = pitlane;
  else if (route.name === "tracks") view = tracks;
  else if (route.name === "settings") view = settingsView;
  else if (route.name === "session") {
    // The session's document is fetched while its view's code loads, not after.
    prefetch(`/api/sessions/${encodeURIComponent(route.params[0])}`);
    // Its charts and trace reader too, side by side with the view's own code.
    const preload = Promise.all([import("./lib/traces.js"), import("./components/charts.js")]);
    preload.catch(() => {});
    view = await loadSessionView();
  }
  else view = { render: notFound };
  if (id !== renderId) return; // another navigation happened meanwhile
  cleanup = (await view.render(main, app, ...route.params)) || null;
}

// Session Details' code (its view, the charts, the trace reader), fetched once the
// first view is on screen and the browser is idle, so that opening a session does not
// wait for it: a tap on the Pit Lane is what a user does next.
const loadSessionView = () => import("./views/session.js");
function warmSessionView() {
  const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 500));
  idle(() => {
    loadSessionView()
      .then((module) => module.preload?.())
      .catch(() => {
        /* offline: it loads when it is needed */
      });
  });
}

function notFound(root) {
  document.title = "Not found · Racesense";
  root.append(
    h(
      "section.panel",
      {},
      h("h1", {}, "This page does not exist"),
      h("p", {}, "The link may be old or mistyped. Your sessions are on the Pit Lane."),
      h("a.button.primary", { href: "/", "data-link": true }, "Go to the Pit Lane"),
    ),
  );
}

function showHelp(reason) {
  clear(main);
  help.render(main, reason);
}

function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render();
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-link]");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", render);

function startEvents() {
  let wasLive = null;
  listen(apiUrl("/api/events"), {
    token: getToken,
    onEvent: (name, data) => app.events.dispatchEvent(new CustomEvent(name, { detail: data })),
    // After a gap, events may have been missed: views re-read their state.
    onOpen: () => app.events.dispatchEvent(new CustomEvent("resync")),
    onState: (state) => {
      document.documentElement.dataset.live = state;
      if (state === "unauthorized") app.tokenRefused();
      if (state === "reconnecting" && wasLive) {
        app.notice("Lost the live connection to the pit laptop. Reconnecting…");
      }
      if (state === "live" && wasLive === false) app.notice("");
      wasLive = state === "live";
    },
  });
}

applyTheme(loadSettings());
adoptToken();
registerServiceWorker(app);
render().then(() => {
  if (getToken()) {
    startEvents();
    warmSessionView();
  }
});
