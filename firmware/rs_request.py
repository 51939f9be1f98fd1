"""What a sealed sync_request or cancel must contain (docs/ble-protocol.md, "sync_request"):
field by field, with the error code each failure gets. Pure functions on the decrypted
JSON text; ble_provisioning decides what to do with the result.

Limits are in UTF-8 bytes where the other end counts bytes (an SSID is at most 32 bytes,
not 32 characters), and in characters where only ASCII is allowed.
"""

import json
from binascii import a2b_base64, b2a_base64

from rs_protocol import ACK_KEY_BYTES, E_MESSAGE, E_URL

SYNC_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
SYNC_ID_MAX_CHARS = 32  # it goes into the laptop's URL paths
SSID_MAX_BYTES = 32  # 802.11
PASSWORD_MAX_BYTES = 64  # WPA2: 8-63 characters, or 64 hex digits
TOKEN_MAX_BYTES = 256
URL_MAX_BYTES = 512
TIME_UTC_MIN_S = 1600000000  # 2020-09: a clock this old (or ms sent as s) is a bug
TIME_UTC_MAX_S = 4102444800  # 2100-01-01
_B64URL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
ACK_KEY_CHARS = (4 * ACK_KEY_BYTES + 2) // 3  # 43: base64url, no padding


class Reject(Exception):
    """A control message is refused: .code goes into its ack, .detail says why."""

    def __init__(self, code, detail):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


def parse_object(data):
    """The JSON object in `data` (bytes), or Reject(E_MESSAGE)."""
    try:
        obj = json.loads(data)
    except ValueError:  # also bad UTF-8 (UnicodeDecodeError is a ValueError)
        raise Reject(E_MESSAGE, "payload is not JSON") from None
    if not isinstance(obj, dict):
        raise Reject(E_MESSAGE, "payload is not a JSON object")
    return obj


def text(obj, name, max_bytes, optional=False, min_bytes=1):
    """A string field of min_bytes..max_bytes UTF-8 bytes; None when optional and absent
    or empty."""
    value = obj.get(name)
    if optional and (value is None or value == ""):
        return None
    if not isinstance(value, str) or not min_bytes <= len(value.encode()) <= max_bytes:
        limits = str(min_bytes) + "-" + str(max_bytes)
        raise Reject(E_MESSAGE, name + ": a string of " + limits + " UTF-8 bytes")
    return value


def integer(obj, name, low, high):
    value = obj.get(name)
    # type() and not isinstance(): JSON true is a bool, an int subclass on CPython
    if type(value) is not int or not low <= value <= high:
        raise Reject(E_MESSAGE, name + ": an integer from " + str(low) + " to " + str(high))
    return value


def sync_id(obj):
    value = text(obj, "sync_id", SYNC_ID_MAX_CHARS)
    for ch in value:
        if ch not in SYNC_ID_CHARS:
            raise Reject(E_MESSAGE, "sync_id: letters, digits, - and _ only")
    return value


def valid_url(url):
    """True for http:// or https:// followed by a host, no spaces or control characters."""
    if not isinstance(url, str) or len(url.encode()) > URL_MAX_BYTES:
        return False
    if url.startswith("http://"):
        rest = url[7:]
    elif url.startswith("https://"):
        rest = url[8:]
    else:
        return False
    for ch in url:
        if ch <= " " or ch == "\x7f":
            return False
    host_end = len(rest)
    for sep in "/?#":
        i = rest.find(sep)
        if 0 <= i < host_end:
            host_end = i
    host = rest[:host_end]
    return bool(host) and not host.startswith(":") and "@" not in host


def decode_b64url(value):
    """Bytes from unpadded base64url; ValueError if it is not that."""
    for ch in value:
        if ch not in _B64URL_CHARS:
            raise ValueError("not base64url")
    if len(value) % 4 == 1:
        raise ValueError("impossible base64 length")
    std = value.replace("-", "+").replace("_", "/")
    return a2b_base64(std + "=" * (-len(std) % 4))


def encode_b64url(data):
    """Unpadded base64url of `data`, as text."""
    text = b2a_base64(bytes(data)).decode().strip().rstrip("=")
    return text.replace("+", "-").replace("/", "_")


def ack_key(obj):
    """The per-sync ack secret: 32 bytes as 43 base64url characters without padding. Kept
    as that string: sync.py reads request["ack_key"] as text."""
    value = obj.get("ack_key")
    if not isinstance(value, str) or len(value) != ACK_KEY_CHARS:
        raise Reject(E_MESSAGE, "ack_key: 32 bytes as 43 base64url characters, no padding")
    try:
        raw = decode_b64url(value)
    except ValueError:
        raise Reject(E_MESSAGE, "ack_key: not base64url") from None
    if len(raw) != ACK_KEY_BYTES:
        raise Reject(E_MESSAGE, "ack_key: must decode to 32 bytes")
    return value


def cert_pin(obj):
    value = text(obj, "cert_sha256", 64, optional=True, min_bytes=64)
    if value is None:
        return None
    for ch in value:
        if ch not in "0123456789abcdefABCDEF":
            raise Reject(E_MESSAGE, "cert_sha256: 64 hex digits")
    return value.lower()


def sync_request(body):
    """The request dict handed to sync.Sync.start() from a decrypted sync_request, or
    Reject: E_MESSAGE for a missing, mistyped or out-of-range field, E_URL for a URL.

    keys: ssid, password, url, ip_fallback (a URL like url, or None), token, sync_id,
    cert_sha256 (lower-case hex or None), time_utc (int s), ack_key (base64url str)."""
    obj = parse_object(body)
    request = {
        "ssid": text(obj, "ssid", SSID_MAX_BYTES),
        "password": text(obj, "password", PASSWORD_MAX_BYTES, min_bytes=0),
        "url": text(obj, "url", URL_MAX_BYTES),
        "ip_fallback": text(obj, "ip_fallback", URL_MAX_BYTES, optional=True),
        "token": text(obj, "token", TOKEN_MAX_BYTES),
        "sync_id": sync_id(obj),
        "cert_sha256": cert_pin(obj),
        "time_utc": integer(obj, "time_utc", TIME_UTC_MIN_S, TIME_UTC_MAX_S),
        "ack_key": ack_key(obj),
    }
    if not valid_url(request["url"]):
        raise Reject(E_URL, "url must be http:// or https:// and name a host")
    fallback = request["ip_fallback"]
    if fallback is not None and not valid_url(fallback):
        raise Reject(E_URL, "ip_fallback must be http:// or https:// and name a host")
    return request


def cancel(body):
    """The sync_id a decrypted cancel names, or Reject(E_MESSAGE)."""
    return sync_id(parse_object(body))
