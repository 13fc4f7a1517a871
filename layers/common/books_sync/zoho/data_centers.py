"""Zoho's data centers: where a tenant's OAuth tokens come from and where its Books API answers.

From Zoho Accounts' multi-DC page: every accounts host is `accounts.zoho.<dc>` except Canada's,
`accounts.zohocloud.ca`. The token answer names the API host to use (`api_domain`); the table's
host is the fallback until a token has been seen. `ZOHO_API_BASE_URL` / `ZOHO_ACCOUNTS_BASE_URL`
override both for every tenant (the emulator).
"""

from __future__ import annotations

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


def valid_api_domain(value: object) -> str | None:
    """The token answer's `api_domain` when it is a plain https origin, else None (the table's host is used)."""
    if not isinstance(value, str):
        return None
    parts = urlsplit(value.strip())
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/") or parts.query:
        return None
    return f"https://{parts.netloc}"


def api_root(settings: Settings, data_center: str, api_domain: str | None) -> str:
    """The Books API root (`.../books/v3`) for a tenant."""
    if settings.zoho_api_base_url:
        return settings.zoho_api_base_url
    origin = api_domain or f"https://{DATA_CENTERS[data_center][1]}"
    return f"{origin}/books/v3"
