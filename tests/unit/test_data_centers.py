"""Each Zoho data center has its own accounts host and API host (Zoho Accounts' multi-DC page)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from books_sync.records.organizations import organization_profile
from books_sync.settings import load_settings
from books_sync.zoho.data_centers import DATA_CENTERS, accounts_token_url, api_root


@pytest.mark.parametrize(
    ("dc", "accounts", "api"),
    [
        ("com", "https://accounts.zoho.com", "https://www.zohoapis.com"),
        ("eu", "https://accounts.zoho.eu", "https://www.zohoapis.eu"),
        ("in", "https://accounts.zoho.in", "https://www.zohoapis.in"),
        ("com.au", "https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
        ("jp", "https://accounts.zoho.jp", "https://www.zohoapis.jp"),
        ("ca", "https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
        ("com.cn", "https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
        ("sa", "https://accounts.zoho.sa", "https://www.zohoapis.sa"),
        ("uk", "https://accounts.zoho.uk", "https://www.zohoapis.uk"),
    ],
)
def test_hosts_per_data_center(dc: str, accounts: str, api: str) -> None:
    settings = load_settings({})
    assert accounts_token_url(settings, dc) == f"{accounts}/oauth/v2/token"
    assert api_root(settings, dc, api_domain=None) == f"{api}/books/v3"


def test_the_api_domain_of_the_token_answer_wins_and_an_override_wins_over_both() -> None:
    settings = load_settings({})
    assert api_root(settings, "eu", api_domain="https://books.zohoapis.eu") == "https://books.zohoapis.eu/books/v3"
    emulator = load_settings({"ZOHO_API_BASE_URL": "http://127.0.0.1:1/books/v3"})
    assert api_root(emulator, "eu", api_domain="https://books.zohoapis.eu") == "http://127.0.0.1:1/books/v3"


@pytest.mark.parametrize(
    "api_domain",
    [
        "http://www.zohoapis.eu",  # not https
        "https://attacker.example",
        "https://www.zohoapis.com",  # Zoho's, but another data center's
        "https://www.zohoapis.eu.attacker.example",
        "https://attackerzohoapis.eu",
        "https://www.zohoapis.eu:8443",
        "https://user@www.zohoapis.eu",
        "https://www.zohoapis.eu/elsewhere",
        "https://www.zohoapis.eu?x=1",
        "https://www.zohoapis.eu:99999",
        "https://[::1]",
        "https://evil.com\\.zohoapis.eu",  # urlsplit's host; an HTTP library's host is evil.com
        "https://evil.com%2f.zohoapis.eu",
        "https://evil.com .zohoapis.eu",
        "https://www.zohoapis.eu\\@evil.com",
        "",
        None,
    ],
)
def test_an_api_domain_that_is_not_zohos_for_the_data_center_is_never_used(api_domain: str | None) -> None:
    """Read back from the database, `api_domain` is checked on every use: the tokens go to Zoho or nowhere."""
    root = api_root(load_settings({}), "eu", api_domain=api_domain)
    assert root == "https://www.zohoapis.eu/books/v3"
    prepared = requests.Request("GET", f"{root}/contacts").prepare()  # where an HTTP library would connect
    assert urlsplit(prepared.url or "").hostname == "www.zohoapis.eu"


def test_every_data_center_is_known() -> None:
    assert set(DATA_CENTERS) == {"com", "eu", "in", "com.au", "jp", "ca", "com.cn", "sa", "uk"}


def test_a_client_secret_per_data_center() -> None:
    """A multi-DC Zoho client shares its id but may have one secret per data center."""
    from books_sync.zoho.auth import oauth_client_from_settings

    settings = load_settings(
        {"ZOHO_CLIENT_ID": "id", "ZOHO_CLIENT_SECRET": "global", "ZOHO_CLIENT_SECRETS": '{"eu": "eu-secret"}'}
    )
    assert oauth_client_from_settings(settings, "eu").client_secret == "eu-secret"
    assert oauth_client_from_settings(settings, "in").client_secret == "global"


@pytest.mark.parametrize(
    ("organization", "expected"),
    [
        ({"address": {"country": "U.S.A"}, "time_zone": "PST"}, ("US", "America/Los_Angeles")),  # documented
        ({"address": {"country": "Canada"}, "time_zone": "PST"}, ("CA", "America/Vancouver")),
        ({"address": {"country": "India"}, "time_zone": "IST"}, ("IN", "Asia/Kolkata")),
        ({"address": {"country": "Ireland"}, "time_zone": "IST"}, ("IE", "Europe/Dublin")),
        ({"address": {"country": "China"}, "time_zone": "CST"}, ("CN", "Asia/Shanghai")),
        ({"address": {"country": "Germany"}, "time_zone": "CET"}, ("DE", "Europe/Berlin")),
        ({"address": {"country": "Australia"}, "time_zone": "AWST"}, ("AU", "Australia/Perth")),
        ({"country": "India", "country_code": "IN", "time_zone": "Asia/Calcutta"}, ("IN", "Asia/Calcutta")),  # seen
        ({"address": {"country": "Germany"}, "time_zone": ""}, ("DE", "Europe/Berlin")),  # one zone: no doubt
        ({"address": {"country": "Atlantis"}, "time_zone": "XYZ"}, (None, None)),
        ({}, (None, None)),
    ],
)
def test_the_organization_in_either_shape(organization: dict[str, object], expected: tuple[str | None, ...]) -> None:
    profile = organization_profile(organization)
    assert (profile.country_code, profile.timezone) == expected
