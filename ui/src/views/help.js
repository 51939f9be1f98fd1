// The screen for a browser without a working token: how to get a link that works.
import { h } from "../lib/dom.js";
import { forgetToken } from "../lib/token.js";

export function render(root, reason) {
  document.title = "Connect · Racesense";
  const refused = reason === "refused";
  if (refused) forgetToken();
  root.append(
    h(
      "section.panel",
      { role: refused ? "alert" : null },
      h("h1", {}, refused ? "This link no longer works" : "Open Racesense from its link"),
      h(
        "p",
        {},
        refused
          ? "The pit laptop did not accept the key in the link you used: it may have been replaced or revoked."
          : "This browser has no key for the pit laptop yet. Racesense gives one in the link it prints when it starts.",
      ),
      h("h2", {}, "To get a working link"),
      h(
        "ol",
        {},
        h("li", {}, "On the pit laptop, start Racesense (", h("code", {}, "make run"), " or ", h("code", {}, "racesense serve"), ")."),
        h("li", {}, "It prints a line like ", h("code", {}, "Open the UI at http://…/#token=rs_…"), "."),
        h("li", {}, "Open that whole link on this device (copy it, or type it in). Racesense remembers it; you will not need it again here."),
      ),
      h(
        "p.muted",
        {},
        "For another phone or a teammate, run ",
        h("code", {}, "racesense token create phone"),
        " on the laptop and open the link it prints.",
      ),
    ),
  );
}
