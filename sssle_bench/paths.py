"""Names that become paths, and the one way anything is written into an output folder.

Every class label, split name, condition id and file name that ends up in a
path follows :data:`NAME_PATTERN` (checked where a recipe is parsed and on
everything read back from a dataset), and every write goes through
:func:`write_bytes` / :func:`write_text` / :func:`make_dir`, which refuse a path
that resolves outside its root folder, symlinks included.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from pathlib import Path

from .errors import SssleError

#: A safe path component: lowercase letters, digits, ``_``, ``-`` and ``.``, starting with a
#: letter or digit (so never ``.``, ``..`` or a hidden name), at most 64 characters.
NAME_PATTERN = r"[a-z0-9][a-z0-9_.-]{0,63}"
_NAME = re.compile(NAME_PATTERN)
NAME_RULE = (
    "lowercase letters, digits, '_', '-' and '.', starting with a letter or digit, "
    "at most 64 characters"
)


#: Ending of the temporary files :func:`write_bytes` renames into place; one left by a
#: killed process is removed by the next run that cleans its folder.
TEMP_SUFFIX = ".tmp"


_EXCLUSIVE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def _create_temp(path: Path) -> tuple[int, str]:
    """A new temporary file beside ``path`` (same folder, so the rename is atomic), created
    exclusively: whatever already sits at the name, a planted symlink included, is never
    opened or followed (another random name is tried). Returns its descriptor and path."""
    for _ in range(100):
        tmp = str(path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"))
        try:
            return os.open(tmp, _EXCLUSIVE, 0o666), tmp
        except FileExistsError:
            continue
    raise SssleError(f"{path.parent}: cannot create a temporary file there")


def is_safe_name(value: object) -> bool:
    """True if ``value`` is a string that may be used as one path component."""
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def check_name(value: object, what: str, where: str) -> str:
    """Return ``value`` if it is a safe name, else raise naming ``where`` (a file) and ``what``."""
    if not is_safe_name(value):
        raise SssleError(f"{where}: {what} {value!r} is not a safe name ({NAME_RULE})")
    return value  # type: ignore[return-value]


def check_names(values: list[object], what: str, where: str) -> list[str]:
    """:func:`check_name` on each of ``values`` (a file's list of classes, conditions)."""
    return [check_name(value, what, where) for value in values]


def check_relative(rel: object, where: str) -> str:
    """A ``/``-separated relative path whose every component is a safe name."""
    parts = rel.split("/") if isinstance(rel, str) else []
    if not parts or not all(is_safe_name(p) for p in parts):
        raise SssleError(
            f"{where}: path {rel!r} is not relative with safe components ({NAME_RULE})"
        )
    return rel  # type: ignore[return-value]


def inside(root: Path, rel: str | Path, follow_last: bool = False) -> Path:
    """``root / rel``, refused unless it resolves inside ``root``.

    Every folder on the way is resolved (symlinks followed); the last component
    is followed only with ``follow_last`` (a write or a new link replaces it, so
    where an old link pointed does not matter). ``root`` itself may be a
    symlink: what counts is where it resolves. Nothing is created; raises
    :class:`SssleError` naming the path.
    """
    real_root = os.path.realpath(root)
    target = Path(root) / rel
    if target == Path(root):
        real = real_root
    elif follow_last or target.name == "..":
        real = os.path.realpath(target)
    else:
        real = os.path.join(os.path.realpath(target.parent), target.name)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise SssleError(f"refusing to write {target}: it resolves to {real}, outside {root}")
    return target


def make_dir(root: Path, rel: str | Path = ".") -> Path:
    """Create the folder ``root / rel`` (and parents) after checking it stays inside ``root``."""
    path = inside(root, rel, follow_last=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_bytes(root: Path, rel: str | Path, data: bytes) -> Path:
    """Atomically write ``data`` to ``root / rel`` (a temporary name, then a rename).

    Refuses a path outside ``root`` (see :func:`inside`). A reader never sees a
    partial file under the final name, even if the process is killed mid-write; a
    write that fails (a full disk) leaves no temporary file behind.
    """
    path = inside(root, rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_text(root: Path, rel: str | Path, text: str) -> Path:
    """:func:`write_bytes` of UTF-8 text."""
    return write_bytes(root, rel, text.encode("utf-8"))


def remove_file(root: Path, rel: str | Path) -> bool:
    """Delete ``root / rel`` if it is a file inside ``root``; True if something was removed."""
    path = inside(root, rel)
    if path.is_file() or path.is_symlink():
        path.unlink()
        return True
    return False


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    """The sha256 of a file's bytes, read in blocks (an hour of audio never sits in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()
