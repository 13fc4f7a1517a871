"""The local token key file: read it, or create it on first use, readable by its owner only.

Creation is race-free: the key is written to a private temporary file (O_CREAT|O_EXCL, mode 600)
and published with a hard link, which fails when another process published first; then both read
the one file. A key file that group or others may read is refused, not used.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from books_sync.token_cipher.contract import TokenKeyError
from books_sync.token_cipher.local import new_key_text, parse_keys

_HEADER = """\
# zoho-sync token key: the Zoho tokens in the database are encrypted with it.
# Keep it with the database (back it up, copy it along when the database moves): without it the
# tokens cannot be read and every tenant must connect again. Mode 600.
# Rotation: put a new key (base64 of 32 bytes) on the first key line; the first key encrypts, the
# others only decrypt; run `zoho-sync tenant rekey`, then remove the old line.
"""


def load_or_create(path: Path) -> list[bytes]:
    """The file's keys; a new file with one fresh key when there is none yet (nor a link to one)."""
    try:
        return read_keys(path)
    except FileNotFoundError:
        if path.is_symlink():
            raise _dangling(path) from None
        return _create(path)


def _dangling(path: Path) -> TokenKeyError:
    """A link whose target is gone: a new key there would strand every token sealed with the old one."""
    return TokenKeyError(
        f"token key file {path} is a link to {os.readlink(path)}, which does not exist: restore that file (the "
        "tokens in the database need its key) or, for a new database, remove the link"
    )


def read_keys(path: Path) -> list[bytes]:
    """The keys in an existing key file, refusing one that others may read."""
    with path.open("rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise TokenKeyError(
                f"token key file {path} is open to group or others (mode {stat.S_IMODE(mode):o}): "
                f"run `chmod 600 {path}`"
            )
        text = file.read().decode("utf-8", errors="replace")
    keys = parse_keys(text, f"token key file {path}")
    if not keys:
        raise TokenKeyError(f"token key file {path} holds no key")
    return keys


def _create(path: Path) -> list[bytes]:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise TokenKeyError(f"cannot create the token key file {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(_HEADER + new_key_text() + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.link(draft, path)
    except FileExistsError:
        pass  # another process created it first: use theirs
    finally:
        draft.unlink(missing_ok=True)
    try:
        return read_keys(path)
    except FileNotFoundError:  # a link made meanwhile, to nothing
        raise _dangling(path) from None
