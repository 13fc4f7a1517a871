"""Zoho's data centers: where a tenant's OAuth tokens come from and where its Books API answers.

From Zoho Accounts' multi-DC page: every accounts host is `accounts.zoho.<dc>` except Canada's,
`accounts.zohocloud.ca`. The token answer names the API host to use (`api_domain`); the table's
host is the fallback until a token has been seen. `api_domain` is checked where it is received and
again every time it is used (it is read back from the database, which is not trusted with the
tokens' destination): https on the default port, a host under the data center's `zohoapis` domain,
nothing else. `ZOHO_API_BASE_URL` / `ZOHO_ACCOUNTS_BASE_URL` override both for every tenant: the
explicit development setting that points the client at the emulator.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from books_sync.settings import Settings

# data center → (accounts host, API host)
DATA_CENTERS: dict[str, tuple[str, str]] = {
    "com": ("accounts.zoho.com", "www.zohoapis.com"),
    "eu": ("accounts.zoho.eu", "www.zohoapis.eu"),
    "in": ("accounts.zoho.in", "www.zohoapis.in"),
    "com.au": ("accounts.zoho.com.au", "www.zohoapis.com.au"),
    "jp": ("accounts.zoho.jp", "www.zohoapis.jp"),
    "ca": ("accounts.zohocloud.ca", "www.zohoapis.ca"),
    "com.cn": ("accounts.zoho.com.cn", "www.zohoapis.com.cn"),
    "sa": ("accounts.zoho.sa", "www.zohoapis.sa"),
    "uk": ("accounts.zoho.uk", "www.zohoapis.uk"),
}


def accounts_token_url(settings: Settings, data_center: str) -> str:
    base = settings.zoho_accounts_base_url or f"https://{DATA_CENTERS[data_center][0]}"
    return f"{base}/oauth/v2/token"


_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+")


def zoho_api_origin(value: object, data_center: str) -> str | None:
    """`api_domain` when it is an https origin on Zoho's API domain of the data center (`www.zohoapis.eu`,
    `*.zohoapis.eu`), else None: the table's host is used, and no token goes anywhere else."""
    if not isinstance(value, str) or data_center not in DATA_CENTERS:
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".")
    if not _HOST_NAME.fullmatch(host):  # DNS labels only: `evil.com\.zohoapis.com` parses as one host here, as
        return None  # `evil.com` in an HTTP library; no backslash, percent sign, space or other character passes
    domain = DATA_CENTERS[data_center][1].removeprefix("www.")
    on_zoho = host == domain or host.endswith(f".{domain}")
    plain = parts.path in ("", "/") and not parts.query and not parts.fragment and "@" not in parts.netloc
    if parts.scheme != "https" or not on_zoho or not plain or port not in (None, 443):
        return None
    return f"https://{host}"


def api_root(settings: Settings, data_center: str, api_domain: str | None) -> str:
    """The Books API root (`.../books/v3`) for a tenant: the override, else a checked `api_domain`, else the table's."""
    if settings.zoho_api_base_url:
        return settings.zoho_api_base_url
    origin = zoho_api_origin(api_domain, data_center) or f"https://{DATA_CENTERS[data_center][1]}"
    return f"{origin}/books/v3"
