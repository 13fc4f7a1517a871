"""Zoho's JSON may carry NUL characters and lone surrogates (half an emoji, `\\ud83d`): Postgres refuses
the first, strict UTF-8 the second. Every answer is cleaned once, where it is parsed."""

from __future__ import annotations

from books_sync.records.contacts import contact_hash
from books_sync.zoho.responses import Success, classify, parse_json


def test_nul_and_lone_surrogates_are_cleaned_everywhere_in_an_answer() -> None:
    raw = (
        b'{"code": 0, "contact": {"contact_name": "Ac\\u0000me \\ud83d", '
        b'"contact_persons": [{"first_name": "\\udc00Zo\\u00ebs"}], "n\\u0000": 1}}'
    )
    payload = parse_json(raw)
    contact = payload["contact"]
    assert contact["contact_name"] == "Acme \ufffd"
    assert contact["contact_persons"][0]["first_name"] == "\ufffdZoës"
    assert "n" in contact
    for text in (contact["contact_name"], contact["contact_persons"][0]["first_name"]):
        text.encode("utf-8")  # strict UTF-8 takes it
    assert isinstance(classify("contacts.get", 200, raw), Success)


def test_a_whole_emoji_survives() -> None:
    assert parse_json(b'{"name": "Bikes \\ud83d\\ude80"}')["name"] == "Bikes 🚀"


def test_the_hash_of_a_cleaned_contact_is_computable() -> None:
    contact = parse_json(b'{"contact_id": "1", "contact_name": "\\ud83d", "last_modified_time": "x"}')
    assert len(contact_hash(contact)) == 64
