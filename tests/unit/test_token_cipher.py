"""The local token cipher (standard library only) and its key file, without a database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat
import threading
from pathlib import Path

import pytest

from books_sync.errors import SettingsError
from books_sync.settings import load_settings
from books_sync.token_cipher import Keyring, TokenKeyError, TokenUnreadable, is_encrypted, reset
from books_sync.token_cipher.key_file import load_or_create
from books_sync.token_cipher.kms import KmsCipher, region_of
from books_sync.token_cipher.local import LocalCipher, fingerprint

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))
TOKEN = "1000.3f1c0ffee.refresh"


def test_round_trip_and_what_is_stored() -> None:
    cipher = LocalCipher([KEY_A], "test")
    stored = cipher.encrypt(TOKEN, "u1")
    assert stored.startswith(f"local:v1:{fingerprint(KEY_A)}:")
    assert TOKEN not in stored and TOKEN.encode() not in base64.b64decode(stored.rsplit(":", 1)[1])
    assert is_encrypted(stored) and not is_encrypted(TOKEN)
    assert cipher.decrypt(stored, "u1") == TOKEN
    assert cipher.encrypt(TOKEN, "u1") != stored  # a fresh nonce each time
    assert cipher.key_id() == f"local:{fingerprint(KEY_A)}"


@pytest.mark.parametrize("plaintext", ["", "x", "é" * 40, "t" * 1000])
def test_round_trip_of_any_length(plaintext: str) -> None:
    cipher = LocalCipher([KEY_A], "test")
    assert cipher.decrypt(cipher.encrypt(plaintext, "u1"), "u1") == plaintext


def test_the_construction_is_the_documented_one() -> None:
    """A value built by hand from the module docstring opens: stored tokens stay readable across versions."""
    nonce, tenant, plaintext = b"\x07" * 16, b"u1", TOKEN.encode()

    def prf(key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, hashlib.sha256).digest()

    enc, mac = prf(KEY_A, b"zoho-sync token v1 encryption"), prf(KEY_A, b"zoho-sync token v1 authentication")
    print_ = prf(KEY_A, b"zoho-sync token v1 fingerprint")[:8].hex()
    stream = prf(enc, nonce + (0).to_bytes(4, "big")) + prf(enc, nonce + (1).to_bytes(4, "big"))
    ciphertext = bytes(p ^ k for p, k in zip(plaintext, stream, strict=False))
    tag = prf(mac, f"local:v1:{print_}".encode() + nonce + len(tenant).to_bytes(4, "big") + tenant + ciphertext)
    stored = f"local:v1:{print_}:" + base64.b64encode(nonce + ciphertext + tag).decode()
    assert LocalCipher([KEY_A], "test").decrypt(stored, "u1") == TOKEN


def test_a_tampered_value_is_refused_naming_the_tenant_never_the_token() -> None:
    cipher = LocalCipher([KEY_A], "test")
    prefix, body = cipher.encrypt(TOKEN, "u1").rsplit(":", 1)
    raw = bytearray(base64.b64decode(body))
    for position in (0, 20, len(raw) - 1):  # nonce, ciphertext, tag
        altered = raw.copy()
        altered[position] ^= 1
        with pytest.raises(TokenUnreadable, match="tenant 'u1'") as caught:
            cipher.decrypt(f"{prefix}:{base64.b64encode(altered).decode()}", "u1")
        assert TOKEN not in str(caught.value)
    for broken in (f"{prefix}:not base64!", f"{prefix}:", f"{prefix}:{base64.b64encode(raw[:40]).decode()}"):
        with pytest.raises(TokenUnreadable):
            cipher.decrypt(broken, "u1")


def test_a_value_copied_to_another_tenant_does_not_open() -> None:
    cipher = LocalCipher([KEY_A], "test")
    with pytest.raises(TokenUnreadable, match=r"tenant 'u2'.*another tenant"):
        cipher.decrypt(cipher.encrypt(TOKEN, "u1"), "u2")
    with pytest.raises(TokenUnreadable):  # the tenant id is length-prefixed: no shifting bytes between fields
        cipher.decrypt(cipher.encrypt(TOKEN, "u1"), "u")


def test_a_value_of_another_key_is_a_key_error_naming_both_keys() -> None:
    stored = LocalCipher([KEY_A], "test").encrypt(TOKEN, "u1")
    with pytest.raises(TokenKeyError, match=f"tenant 'u1'.*{fingerprint(KEY_A)}.*{fingerprint(KEY_B)}") as caught:
        LocalCipher([KEY_B], "token key file /x").decrypt(stored, "u1")
    assert "token key file /x" in str(caught.value) and TOKEN not in str(caught.value)


def test_rotation_the_first_key_encrypts_every_key_decrypts() -> None:
    old = LocalCipher([KEY_A], "test").encrypt(TOKEN, "u1")
    rotated = LocalCipher([KEY_B, KEY_A], "test")
    assert rotated.decrypt(old, "u1") == TOKEN
    assert rotated.encrypt(TOKEN, "u1").startswith(f"local:v1:{fingerprint(KEY_B)}:")


def test_key_file_is_created_on_first_use_with_mode_600(tmp_path: Path) -> None:
    path = tmp_path / "config" / "zoho-sync" / "token.key"
    first = load_or_create(path)
    assert len(first) == 1 and len(first[0]) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create(path) == first  # read, not replaced
    assert [p.name for p in path.parent.iterdir()] == ["token.key"]  # no draft left behind
    assert "Keep it with the database" in path.read_text()


def test_key_file_open_to_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token.key"
    load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(TokenKeyError, match=f"chmod 600 {path}"):
        load_or_create(path)
    path.chmod(0o640)
    with pytest.raises(TokenKeyError, match="group or others"):
        load_or_create(path)


def test_a_malformed_key_file_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "token.key"
    path.write_text("# comment\n\nnot-a-key\n")
    path.chmod(0o600)
    with pytest.raises(TokenKeyError, match="line 3 is not base64 of 32 bytes"):
        load_or_create(path)
    path.write_text("# only a comment\n")
    with pytest.raises(TokenKeyError, match="holds no key"):
        load_or_create(path)


def test_processes_creating_the_key_file_at_once_get_one_key(tmp_path: Path) -> None:
    path = tmp_path / "token.key"
    found: list[list[bytes]] = []
    start = threading.Barrier(8)

    def create() -> None:
        start.wait()
        found.append(load_or_create(path))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8 and all(keys == found[0] for keys in found)


def test_keyring_uses_the_environment_key_before_the_key_file(tmp_path: Path) -> None:
    path = tmp_path / "token.key"
    ring = Keyring(None, (KEY_B, KEY_A), path, in_lambda=False)
    stored = ring.for_writing().encrypt(TOKEN, "u1")
    assert stored.startswith(f"local:v1:{fingerprint(KEY_B)}:")
    assert ring.decrypt(stored, "u1", None) == TOKEN
    assert not path.exists()
    with pytest.raises(TokenUnreadable, match="not in a known format"):
        ring.decrypt(TOKEN, "u1", None)


def test_in_lambda_without_a_kms_key_nothing_is_written_and_no_key_file_made(tmp_path: Path) -> None:
    path = tmp_path / "token.key"
    ring = Keyring(None, (), path, in_lambda=True)
    with pytest.raises(TokenKeyError, match=r"TOKEN_KMS_KEY_ID is not set.*TokenKmsKeyArn"):
        ring.for_writing()
    stored = LocalCipher([KEY_A], "test").encrypt(TOKEN, "u1")
    with pytest.raises(TokenKeyError, match=r"tenant 'u1'.*local key.*zoho-sync tenant rekey"):
        ring.decrypt(stored, "u1", f"local:{fingerprint(KEY_A)}")
    assert not path.exists()
    assert Keyring(None, (KEY_A,), path, in_lambda=True).decrypt(stored, "u1", None) == TOKEN  # a key given


def test_settings_read_the_keys_and_never_quote_a_bad_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    a, b = base64.b64encode(KEY_A).decode(), base64.b64encode(KEY_B).decode()
    settings = load_settings({"ZOHO_SYNC_TOKEN_KEY": f"{a}, {b}", "TOKEN_KMS_KEY_ID": "alias/zoho-tokens"})
    assert settings.token_keys == (KEY_A, KEY_B) and settings.token_kms_key_id == "alias/zoho-tokens"
    assert a not in repr(settings)
    secret_but_short = base64.b64encode(b"s3cret-but-short").decode()
    with pytest.raises(SettingsError, match="ZOHO_SYNC_TOKEN_KEY: expected base64 of 32 bytes") as caught:
        load_settings({"ZOHO_SYNC_TOKEN_KEY": secret_but_short})
    assert secret_but_short not in str(caught.value)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_settings({}).token_key_file == tmp_path / "zoho-sync" / "token.key"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert load_settings({}).token_key_file == Path.home() / ".config" / "zoho-sync" / "token.key"
    assert load_settings({"ZOHO_SYNC_TOKEN_KEY_FILE": "~/k"}).token_key_file == Path.home() / "k"
    assert load_settings({"AWS_LAMBDA_FUNCTION_NAME": "f"}).lambda_function_name == "f"


def test_a_kms_value_without_aws_credentials_is_a_clear_key_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    reset()
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    try:
        with pytest.raises(TokenKeyError, match=rf"tenant 'u1'.*{key}.*NoCredentialsError.*kms:Decrypt"):
            KmsCipher(key).decrypt("kms:v1:" + base64.b64encode(b"blob").decode(), "u1")
    finally:
        reset()
    assert region_of(key) == "eu-west-1" and region_of("alias/zoho-tokens") is None
