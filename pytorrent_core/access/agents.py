"""A short, human summary of a User-Agent header, such as "Firefox on Linux".

Only for telling one's own sessions apart on the account page: a client can send
any header, so nothing decides anything from it. A handful of substring checks,
in an order that matters (Edge and Opera also say Chrome; Chrome also says Safari).
"""

from __future__ import annotations

_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("CriOS/", "Chrome"),
    ("FxiOS/", "Firefox"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-requests/", "Python requests"),
    ("python-httpx/", "Python httpx"),
    ("Python-urllib/", "Python urllib"),
    ("aiohttp/", "Python aiohttp"),
    ("Wget/", "Wget"),
)

_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
    ("BSD", "BSD"),
)


def summary(user_agent: str | None) -> str:
    """``"<browser> on <system>"``, either part alone when only one is known, else
    ``"unknown client"``."""
    text = (user_agent or "")[:512]
    browser = next((name for marker, name in _BROWSERS if marker in text), None)
    system = next((name for marker, name in _SYSTEMS if marker in text), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "unknown client"
