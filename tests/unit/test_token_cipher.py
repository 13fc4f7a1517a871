"""The local token cipher (AES-256-GCM, `cryptography`), its `v1` predecessor and its key file, without a database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from books_sync.errors import SettingsError
from books_sync.settings import load_settings
from books_sync.token_cipher import Keyring, TokenKeyError, TokenUnreadable, is_encrypted, reset
from books_sync.token_cipher.key_file import load_or_create
from books_sync.token_cipher.kms import KmsCipher, region_of
from books_sync.token_cipher.local import LocalCipher, fingerprint
from tests.support import legacy_local_v1

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))
TOKEN = "1000.3f1c0ffee.refresh"


def test_round_trip_and_what_is_stored() -> None:
    cipher = LocalCipher([KEY_A], "test")
    stored = cipher.encrypt(TOKEN, "u1", "refresh_token")
    assert stored.startswith(f"local:v2:{fingerprint(KEY_A)}:")
    assert TOKEN not in stored and TOKEN.encode() not in base64.b64decode(stored.rsplit(":", 1)[1])
    assert is_encrypted(stored) and not is_encrypted(TOKEN)
    assert cipher.decrypt(stored, "u1", "refresh_token") == TOKEN
    assert cipher.encrypt(TOKEN, "u1", "refresh_token") != stored  # a fresh nonce each time
    assert cipher.key_id() == f"local:{fingerprint(KEY_A)}"


@pytest.mark.parametrize("plaintext", ["", "x", "é" * 40, "t" * 1000])
def test_round_trip_of_any_length(plaintext: str) -> None:
    cipher = LocalCipher([KEY_A], "test")
    assert cipher.decrypt(cipher.encrypt(plaintext, "u1", "access_token"), "u1", "access_token") == plaintext


def test_the_construction_is_the_documented_one() -> None:
    """A value built by hand from the module docstring with the standard AEAD opens: stored tokens stay
    readable across versions, and the scheme is exactly AES-256-GCM with the documented associated data."""
    nonce = b"\x07" * 12
    aead_key = hmac.new(KEY_A, b"zoho-sync token v2 aes-256-gcm", hashlib.sha256).digest()
    print_ = hmac.new(KEY_A, b"zoho-sync token v1 fingerprint", hashlib.sha256).digest()[:8].hex()
    associated = f'["local:v2","{print_}","u1","refresh_token"]'.encode()
    sealed = AESGCM(aead_key).encrypt(nonce, TOKEN.encode(), associated)
    stored = f"local:v2:{print_}:" + base64.b64encode(nonce + sealed).decode()
    assert LocalCipher([KEY_A], "test").decrypt(stored, "u1", "refresh_token") == TOKEN


def test_the_v1_form_opens_only_for_the_migration() -> None:
    stored = legacy_local_v1(KEY_A, "u1", TOKEN)
    cipher = LocalCipher([KEY_A], "test")
    assert cipher.decrypt(stored, "u1", "refresh_token", legacy=True) == TOKEN
    with pytest.raises(TokenUnreadable, match=r"tenant 'u1'.*not in the current form.*migration 0018"):
        cipher.decrypt(stored, "u1", "refresh_token")
    with pytest.raises(TokenUnreadable, match="tenant 'u2'"):  # v1 was bound to its tenant: still checked
        cipher.decrypt(stored, "u2", "refresh_token", legacy=True)
    tampered = stored[:-6] + ("A" if stored[-6] != "A" else "B") + stored[-5:]
    with pytest.raises(TokenUnreadable):
        cipher.decrypt(tampered, "u1", "refresh_token", legacy=True)


def test_a_tampered_value_is_refused_naming_the_tenant_never_the_token() -> None:
    cipher = LocalCipher([KEY_A], "test")
    prefix, body = cipher.encrypt(TOKEN, "u1", "refresh_token").rsplit(":", 1)
    raw = bytearray(base64.b64decode(body))
    for position in (0, 15, len(raw) - 1):  # nonce, ciphertext, tag
        altered = raw.copy()
        altered[position] ^= 1
        with pytest.raises(TokenUnreadable, match="tenant 'u1'") as caught:
            cipher.decrypt(f"{prefix}:{base64.b64encode(altered).decode()}", "u1", "refresh_token")
        assert TOKEN not in str(caught.value)
    for broken in (f"{prefix}:not base64!", f"{prefix}:", f"{prefix}:{base64.b64encode(raw[:20]).decode()}"):
        with pytest.raises(TokenUnreadable):
            cipher.decrypt(broken, "u1", "refresh_token")


def test_a_value_moved_to_another_tenant_or_column_does_not_open() -> None:
    cipher = LocalCipher([KEY_A], "test")
    refresh = cipher.encrypt(TOKEN, "u1", "refresh_token")
    with pytest.raises(TokenUnreadable, match=r"tenant 'u2'.*refresh_token.*another tenant"):
        cipher.decrypt(refresh, "u2", "refresh_token")
    with pytest.raises(TokenUnreadable, match=r"tenant 'u1'.*access_token.*other token's column"):
        cipher.decrypt(refresh, "u1", "access_token")
    with pytest.raises(TokenUnreadable):  # the fields are JSON-encoded: no shifting bytes between them
        cipher.decrypt(cipher.encrypt(TOKEN, "u1", "refresh_token"), "u", "refresh_token")


def test_a_value_of_another_key_is_a_key_error_naming_both_keys() -> None:
    stored = LocalCipher([KEY_A], "test").encrypt(TOKEN, "u1", "refresh_token")
    with pytest.raises(TokenKeyError, match=f"tenant 'u1'.*{fingerprint(KEY_A)}.*{fingerprint(KEY_B)}") as caught:
        LocalCipher([KEY_B], "token key file /x").decrypt(stored, "u1", "refresh_token")
    assert "token key file /x" in str(caught.value) and TOKEN not in str(caught.value)


def test_rotation_the_first_key_encrypts_every_key_decrypts() -> None:
    old = LocalCipher([KEY_A], "test").encrypt(TOKEN, "u1", "refresh_token")
    rotated = LocalCipher([KEY_B, KEY_A], "test")
    assert rotated.decrypt(old, "u1", "refresh_token") == TOKEN
    new = rotated.encrypt(TOKEN, "u1", "refresh_token")
    assert new.startswith(f"local:v2:{fingerprint(KEY_B)}:")
    assert LocalCipher([KEY_B], "test").decrypt(new, "u1", "refresh_token") == TOKEN  # the old key may go


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
    stored = ring.for_writing().encrypt(TOKEN, "u1", "refresh_token")
    assert stored.startswith(f"local:v2:{fingerprint(KEY_B)}:")
    assert ring.decrypt(stored, "u1", "refresh_token", None) == TOKEN
    assert not path.exists()
    with pytest.raises(TokenUnreadable, match="not in a known form"):
        ring.decrypt(TOKEN, "u1", "refresh_token", None)


def test_in_lambda_without_a_kms_key_nothing_is_written_and_no_key_file_made(tmp_path: Path) -> None:
    path = tmp_path / "token.key"
    ring = Keyring(None, (), path, in_lambda=True)
    with pytest.raises(TokenKeyError, match=r"TOKEN_KMS_KEY_ID is not set.*TokenKmsKeyArn"):
        ring.for_writing()
    stored = LocalCipher([KEY_A], "test").encrypt(TOKEN, "u1", "refresh_token")
    with pytest.raises(TokenKeyError, match=r"tenant 'u1'.*local key.*zoho-sync tenant rekey"):
        ring.decrypt(stored, "u1", "refresh_token", f"local:{fingerprint(KEY_A)}")
    assert not path.exists()
    given = Keyring(None, (KEY_A,), path, in_lambda=True)
    assert given.decrypt(stored, "u1", "refresh_token", None) == TOKEN


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
            KmsCipher(key).decrypt("kms:v2:" + base64.b64encode(b"blob").decode(), "u1", "refresh_token")
    finally:
        reset()
    assert region_of(key) == "eu-west-1" and region_of("alias/zoho-tokens") is None


def test_a_key_file_that_is_a_dangling_symlink_is_a_clear_key_error_and_no_new_key(tmp_path: Path) -> None:
    """A link whose target is gone (an unmounted volume, a moved secret): making a new key there would
    strand every stored token, so it is refused, saying where the link points."""
    path = tmp_path / "token.key"
    path.symlink_to(tmp_path / "gone" / "token.key")
    with pytest.raises(TokenKeyError, match=r"token key file .*token\.key is a link to .*gone/token\.key") as caught:
        load_or_create(path)
    assert "restore" in str(caught.value)
    assert not (tmp_path / "gone").exists() and path.is_symlink()


def test_a_key_file_behind_a_working_symlink_is_read(tmp_path: Path) -> None:
    target = tmp_path / "vault" / "token.key"
    keys = load_or_create(target)
    link = tmp_path / "token.key"
    link.symlink_to(target)
    assert load_or_create(link) == keys
