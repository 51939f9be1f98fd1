"""The upload URL and its IP fallback, as the phone hands them over (rs_request):
checked and split before any I/O, so a bad one is E_URL at once, not after joining Wi-Fi."""

from net_conn import UploadError
from rs_protocol import E_URL


def parse_url(url):
    """(scheme, host, port, path) of an http(s) URL; UploadError E_URL otherwise."""
    if not isinstance(url, str):
        raise UploadError(E_URL, "the upload URL is not text")
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        raise UploadError(E_URL, "the upload URL must start with http:// or https://")
    slash = rest.find("/")
    netloc = rest if slash < 0 else rest[:slash]
    path = "/" if slash < 0 else rest[slash:]
    host, port = _host_port(netloc, 443 if scheme == "https" else 80, "the upload URL")
    if has_control(url):
        raise UploadError(E_URL, "the upload URL has no usable host")
    return scheme, host, port, path


def parse_fallback(text, scheme, default_port):
    """(host, port) of the phone's ip_fallback: the upload URL with the laptop's IP
    (what the BLE request carries), or a bare host[:port] (the URL's port then). A full
    URL must have the upload URL's scheme: https and its pin hold for both or neither."""
    if not isinstance(text, str) or has_control(text):
        raise UploadError(E_URL, "ip_fallback is not clean text")
    if "://" in text:
        fb_scheme, host, port, _path = parse_url(text)
        if fb_scheme != scheme:
            raise UploadError(E_URL, "ip_fallback is " + fb_scheme + ", the URL " + scheme)
        return host, port
    if "/" in text:
        raise UploadError(E_URL, "ip_fallback is neither a URL nor host[:port]")
    return _host_port(text, default_port, "ip_fallback")


def _host_port(netloc, port, what):
    if netloc.startswith("["):  # IPv6 literal
        end = netloc.find("]")
        host = netloc[1:end] if end > 0 else ""
        tail = netloc[end + 1 :] if end > 0 else ""
    elif netloc.count(":") > 1:
        host, tail = netloc, ""  # a bare IPv6 address
    else:
        host, _, port_text = netloc.partition(":")
        tail = ":" + port_text if port_text else ""
    if tail:
        digits = tail[1:]
        if not tail.startswith(":") or not digits.isdigit() or not 0 < int(digits) < 65536:
            raise UploadError(E_URL, what + " has a bad port")
        port = int(digits)
    if not host or "@" in netloc or " " in host:
        raise UploadError(E_URL, what + " has no usable host")
    return host, port


def has_control(text):
    return any(c < " " or c == "\x7f" for c in text)
