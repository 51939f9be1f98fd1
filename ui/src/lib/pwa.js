// The service worker: registered where the context allows it (https or localhost).
// When a new version is waiting, the page says so and reloads on request.
import { h } from "./dom.js";

export async function registerServiceWorker(app) {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  // The server can switch the worker off (RACESENSE_SERVICE_WORKER=off): then the page
  // registers none and removes any it has, so a broken one strands nobody.
  let enabled = true;
  try {
    const config = await fetch("/ui-config.json", { cache: "no-store" });
    if (config.ok) enabled = (await config.json()).service_worker !== false;
  } catch {
    // offline: keep what is installed (it is what serves this page now)
  }
  if (!enabled) {
    for (const registration of await navigator.serviceWorker.getRegistrations()) {
      await registration.unregister();
    }
    return;
  }
  navigator.serviceWorker
    .register("/sw.js", { scope: "/", updateViaCache: "none" })
    .then((registration) => {
      const offer = (worker) => {
        if (!worker || !navigator.serviceWorker.controller) return; // first install: nothing to replace
        app.notice("A new version of Racesense is ready.", {
          action: h(
            "button.primary",
            {
              type: "button",
              onclick: () => worker.postMessage("skip-waiting"),
            },
            "Reload",
          ),
        });
      };
      offer(registration.waiting);
      registration.addEventListener("updatefound", () => {
        const worker = registration.installing;
        worker?.addEventListener("statechange", () => {
          if (worker.state === "installed") offer(worker);
        });
      });
    })
    .catch(() => {
      // No offline shell on this device; the app works the same online.
    });
  // Reload when a new worker takes over from an old one, not when the first one
  // starts controlling a page that was loaded without it.
  const hadController = Boolean(navigator.serviceWorker.controller);
  let reloading = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (reloading || !hadController) return;
    reloading = true;
    location.reload();
  });
}
