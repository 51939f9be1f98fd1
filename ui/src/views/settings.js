// Settings: kept in this browser only (localStorage), never sent to the server except
// the hotspot credentials, which the sync hands to the logger over Bluetooth.
import { h } from "../lib/dom.js";
import { applyTheme, checkBackend, loadSettings, saveSettings, syncMissing } from "../lib/settings.js";

export function render(root, app) {
  document.title = "Settings · Racesense";
  const settings = loadSettings();
  const status = h("p", { role: "status", "aria-live": "polite" });
  const missing = syncMissing(settings);
  const fromSync = new URLSearchParams(location.search).get("for") === "sync";

  const field = (id, label, input, hint) =>
    h("div.field", {}, h("label", { for: id }, label), input, hint ? h("p.hint", { id: `${id}-hint` }, hint) : null);

  const ssid = h("input", { id: "ssid", name: "ssid", autocomplete: "off", value: settings.hotspotSsid, "aria-describedby": "ssid-hint" });
  const password = h("input", {
    id: "password",
    name: "password",
    type: "password",
    autocomplete: "off",
    value: settings.hotspotPassword,
    "aria-describedby": "password-hint",
  });
  const backend = h("input", {
    id: "backend",
    name: "backend",
    inputmode: "url",
    placeholder: location.origin,
    value: settings.backend,
    "aria-describedby": "backend-hint",
  });
  const radio = (name, value, label, current) =>
    h(
      "label.choice",
      {},
      h("input", { type: "radio", name, value, checked: current === value }),
      label,
    );
  const codes = Object.entries(settings.pairingCodes);
  const codeList = h(
    "ul",
    {},
    codes.length
      ? codes.map(([device, code]) =>
          h(
            "li.row",
            {},
            h("span.num", {}, `${device}: ${"•".repeat(Math.min(8, String(code).length))}`),
            h(
              "button",
              {
                type: "button",
                onclick: (e) => {
                  const next = loadSettings();
                  delete next.pairingCodes[device];
                  saveSettings(next);
                  e.target.closest("li").remove();
                },
              },
              `Forget ${device}'s code`,
            ),
          ),
        )
      : h("li.muted", {}, "No logger paired yet. The sync asks for a logger's code the first time and remembers it here."),
  );

  const form = h(
    "form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(form);
        const problem = checkBackend(data.get("backend"));
        if (problem) {
          status.textContent = problem;
          backend.setAttribute("aria-invalid", "true");
          backend.focus();
          return;
        }
        backend.removeAttribute("aria-invalid");
        const next = {
          ...loadSettings(),
          hotspotSsid: String(data.get("ssid") || "").trim(),
          hotspotPassword: String(data.get("password") || ""),
          backend: String(data.get("backend") || "").trim(),
          speedUnit: data.get("speed") === "mph" ? "mph" : "kmh",
          distanceUnit: data.get("distance") === "ft" ? "ft" : "m",
          theme: data.get("theme") === "sunlight" ? "sunlight" : "dark",
        };
        saveSettings(next);
        applyTheme(next);
        const still = syncMissing(next);
        status.textContent = still.length
          ? `Saved. The sync still needs ${still.join(" and ")}.`
          : "Saved.";
      },
    },
    h(
      "fieldset",
      {},
      h("legend", {}, "Phone hotspot (for the sync)"),
      field("ssid", "Hotspot name (SSID)", ssid, "Exactly as your phone shows it. The logger joins this hotspot to upload."),
      field(
        "password",
        "Hotspot password",
        password,
        "Kept only in this browser. The sync hands it to your logger over an encrypted Bluetooth link.",
      ),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Pit laptop"),
      field("backend", "Backend address", backend, "Leave empty to use the laptop this page came from."),
    ),
    h("fieldset", {}, h("legend", {}, "Logger pairing codes"), codeList),
    h(
      "fieldset",
      {},
      h("legend", {}, "Units"),
      h("div", { role: "radiogroup", "aria-label": "Speed" }, radio("speed", "kmh", "km/h", settings.speedUnit), radio("speed", "mph", "mph", settings.speedUnit)),
      h("div", { role: "radiogroup", "aria-label": "Distance" }, radio("distance", "m", "metres", settings.distanceUnit), radio("distance", "ft", "feet", settings.distanceUnit)),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Theme"),
      radio("theme", "dark", "Dark", settings.theme),
      radio("theme", "sunlight", "Sunlight (high contrast)", settings.theme),
    ),
    h("div.row", {}, h("button.primary", { type: "submit" }, "Save settings"), status),
  );

  root.append(
    h("h1", {}, "Settings"),
    fromSync && missing.length
      ? h(
          "section.panel.notice",
          { role: "alert" },
          h("p", {}, `To sync, Racesense needs ${missing.join(" and ")}. Fill them in below and save.`),
        )
      : null,
    h("section.panel", {}, form),
  );
  if (fromSync && missing.length) (settings.hotspotSsid ? password : ssid).focus();
}
