// What the Sync flow says, per check and per error: plain words, each with what to do.
// Pure (tested under Node).

export const HOTSPOT_PROMPT = (ssid) =>
  `Handshake successful. Please enable your hotspot [SSID: ${ssid}] now to start the high-speed transfer.`;

/** The first capability the browser lacks, as {title, text}, or null when all are there.
 * In order: a secure context, Web Bluetooth, Bluetooth switched on. */
export function capabilityProblem({ secure, hasBluetooth, available }) {
  if (!secure)
    return {
      title: "This page is not secure enough for Bluetooth",
      text: "Browsers allow Bluetooth only on https pages or on the laptop itself (http://localhost). Open Racesense on the laptop, or use its https address on the phone.",
    };
  if (!hasBluetooth)
    return {
      title: "This browser has no Bluetooth for web pages",
      text: "Use Chrome on Android, Bluefy on iPhone, or Chrome or Edge on the laptop. Safari and Firefox cannot talk to the logger.",
    };
  if (available === false)
    return {
      title: "Bluetooth is off",
      text: "Switch Bluetooth on in this device's settings, then tap Try again.",
    };
  return null;
}

export const CHOOSER_CANCELLED = {
  title: "Didn't see your logger?",
  checklist: [
    "The logger is powered (its LED blinks) and within a few metres.",
    "No other phone or laptop is connected to it right now.",
    "Location is on (Android needs it to scan for Bluetooth devices).",
    "Its name starts with RS-Core.",
  ],
};

const ERRORS = {
  E_AP_NOT_FOUND: [
    "The logger could not find your hotspot",
    "Switch the hotspot on and keep this screen open. It must use 2.4 GHz: on iPhone turn on \"Maximize Compatibility\", on Pixel \"Extend compatibility\". Then tap Try again.",
  ],
  E_JOIN_TIMEOUT: [
    "The logger could not join your hotspot in time",
    "Check the hotspot is on and set to 2.4 GHz (\"Maximize Compatibility\" on iPhone, \"Extend compatibility\" on Pixel), then tap Try again.",
  ],
  E_WRONG_PASSWORD: [
    "The hotspot refused the password",
    "Check the hotspot password in Settings: it must match the one your phone shows for its hotspot.",
  ],
  E_WIFI_SECURITY: [
    "The logger cannot join this hotspot's security",
    "Set the hotspot's security to WPA2 (or WPA2/WPA3), then tap Try again.",
  ],
  E_NO_IP: [
    "The logger joined the hotspot but got no address",
    "Switch the hotspot off and on again, then tap Try again.",
  ],
  E_NETWORK: [
    "The logger could not reach the pit laptop over the hotspot",
    "Check the laptop is connected to this phone's hotspot and Racesense is running on it, then tap Try again.",
  ],
  E_HTTP: [
    "The pit laptop refused the upload",
    "Tap Try again. If it happens again, restart Racesense on the laptop.",
  ],
  E_SERVER_PROOF: [
    "The laptop's answers could not be trusted",
    "Another computer may be answering on the hotspot. Check the laptop is the one running Racesense, then tap Try again. No file was marked as sent.",
  ],
  E_SERVER_HASH: [
    "A file arrived damaged at the laptop",
    "Tap Try again: the file is still on the logger.",
  ],
  E_TLS_PIN: [
    "The laptop's certificate did not match",
    "Open Racesense on the laptop again and retry from its current address.",
  ],
  E_AUTH: [
    "Wrong pairing code",
    "Type the 8-digit code on the logger's label again.",
  ],
  E_RATE_LIMIT: ["Too many attempts", "Wait a few seconds; Racesense tries again by itself."],
  E_BUSY: ["The logger is already syncing", "Wait for it to finish, or cancel it and start again."],
  E_RECORDING: [
    "The logger is recording: the car is moving",
    "Sync once the car has stood still for a few seconds.",
  ],
  E_STORAGE: [
    "The logger cannot read its SD card",
    "Check the card is in place, restart the logger, then try again.",
  ],
  E_CANCELLED: ["Sync cancelled", "Nothing was lost: the files stay on the logger until they are sent."],
};

/** {title, text} for an error code from the logger (or a client error kind). */
export function explain(code, detail = "") {
  const known = ERRORS[code];
  if (known) return { title: known[0], text: known[1] };
  return {
    title: "The sync did not finish",
    text: `${detail ? `${detail}. ` : ""}The files stay on the logger; tap Try again.`,
  };
}

/** {title, text} for a Bluetooth failure before the logger answered (a BleError's kind
 * and reason, ui/src/ble/errors.js), saying why and what to do. */
export function bluetoothProblem(err) {
  const reason = err?.reason || "";
  if (reason === "bluetooth_off") {
    return { title: "Bluetooth is off", text: "Switch Bluetooth on in this device's settings, then tap Try again." };
  }
  if (reason === "not_allowed") {
    return {
      title: "The browser did not allow Bluetooth",
      text: "Allow Bluetooth for this site (the lock icon beside the address, then Site settings), then tap Try again.",
    };
  }
  if (reason === "protocol") {
    return { title: "This logger needs another version of Racesense", text: err?.message || "Update the logger's firmware or Racesense on the laptop." };
  }
  if (err?.kind === "missing_service") {
    return { title: "That device is not an RS-Core logger", text: "Tap Try again and choose the device named RS-Core-…." };
  }
  if (err?.kind === "unavailable") {
    return { title: "Bluetooth is unavailable", text: `${err?.message || "This browser cannot use Bluetooth here."} Use Chrome on Android, Bluefy on iPhone, or Chrome or Edge on the laptop.` };
  }
  return {
    title: "The logger did not answer",
    text: `${err?.message || "The Bluetooth link failed."} Bring the phone within a few metres of the logger and tap Try again.`,
  };
}

export const LINK_LOST =
  "Bluetooth connection lost: the logger goes on over Wi-Fi. Following the upload from the laptop, and reconnecting…";

// No report from the logger for a while, mid-sync: it may still be sending over a weak
// hotspot, or a Bluetooth notification went missing. Asking reads its current report.
export const NOTHING_MOVED = {
  title: "No news from the logger for a while",
  text: "It may still be sending over a weak hotspot: keep the phone near the car. Ask it where it is, or cancel: nothing is lost.",
  ask: "Ask the logger",
};
