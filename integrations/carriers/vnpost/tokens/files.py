"""The token folder's files, private to the service user: never through a planted symlink."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
from pathlib import Path

from worker.domain.errors import TransientError

log = logging.getLogger(__name__)

DIR_MODE, FILE_MODE = 0o700, 0o600
_NEW = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC  # a file no one planted


class UnsafeTokenFolder(TransientError):
    """The token folder, or a file in it, is not private to the user this process runs as:
    nothing is read from or written there. Retried (with backoff) until ops fix it; each
    refusal is an error line in the log naming the path and the problem."""

    def __init__(self, path: Path, problem: str, detail: str) -> None:
        super().__init__(f"thư mục mã truy cập bưu điện không an toàn ({path}): {problem}; "
                         "thư mục phải thuộc người chạy dịch vụ, quyền 700")
        self.path = path
        log.error("carrier token folder refused: %s: %s", path, detail)


def checked_folder(folder: Path) -> None:
    """Made 0700 when missing. Refused when another user owns it or group/others may write
    in it (someone may already have planted a file); one merely readable by others is
    made 0700, and a chmod that fails is a refusal too."""
    try:
        folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        st = os.stat(folder)
    except OSError as exc:
        raise UnsafeTokenFolder(folder, f"không tạo hoặc đọc được ({exc.strerror})",
                                f"cannot create or stat it ({exc.strerror})") from None
    me = os.geteuid()
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeTokenFolder(folder, "không phải thư mục", "not a directory")
    if st.st_uid != me:
        raise UnsafeTokenFolder(
            folder, f"thuộc người dùng uid {st.st_uid}, không phải uid {me} đang chạy",
            f"owned by uid {st.st_uid}, not by this process's uid {me}")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        raise UnsafeTokenFolder(
            folder, f"nhóm hoặc người khác ghi được (quyền {mode:o})",
            f"writable by group or others (mode {mode:o}); chmod 700 it once nothing "
            "foreign is inside")
    if mode & 0o077:
        try:
            os.chmod(folder, DIR_MODE)
        except OSError as exc:
            raise UnsafeTokenFolder(
                folder, f"người khác đọc được (quyền {mode:o}) và không đặt được quyền 700 "
                f"({exc.strerror})", f"mode {mode:o} and chmod 700 failed ({exc.strerror})",
            ) from None


def open_lock(path: Path) -> int:
    """A descriptor of the lock file: the existing one if it is a private regular file of
    this user, else one created now (exclusively, 0600); never through a symlink."""
    for _ in range(3):  # another process may create or remove it between our two tries
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            try:
                return os.open(path, os.O_RDWR | _NEW, FILE_MODE)
            except FileExistsError:
                continue
            except OSError as exc:
                raise _refusal(path, exc) from None
        except OSError as exc:
            raise _refusal(path, exc) from None
        try:
            _check_ours(path, fd)  # its mode does not matter: it holds nothing
        except UnsafeTokenFolder:
            os.close(fd)
            raise
        return fd
    raise UnsafeTokenFolder(path, "tệp khóa lúc có lúc không", "the lock file keeps changing")


def read_private(path: Path) -> str | None:
    """The file's text; None when absent, or when others may read it (its token is not
    trusted: fetched again, and the write replaces the file with a private one). A symlink,
    or a file that is not a regular file of this user, is refused (UnsafeTokenFolder).
    Other errors are the caller's (OSError)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refusal(path, exc) from None
        raise
    with os.fdopen(fd, "r", encoding="utf-8") as f:
        mode = _check_ours(path, f.fileno())
        if mode & 0o077:
            log.warning("carrier token cache file %s readable by others (mode %o): not used, "
                        "replaced", path.name, mode)
            return None
        return f.read()


def write_private(path: Path, body: str) -> None:
    """`body` as the file at `path`, atomically: a temporary file of an unguessable name
    created exclusively (0600, never through a symlink), then renamed over `path` (a rename
    replaces a symlink there, it does not write through it). The temporary file never
    outlives a failure."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | _NEW, FILE_MODE)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ELOOP):
            raise _refusal(tmp, exc) from None
        raise
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _check_ours(path: Path, fd: int) -> int:
    """The file's permission bits, or UnsafeTokenFolder unless it is a regular file of this
    user (`fd` is the caller's to close)."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        raise UnsafeTokenFolder(
            path, f"{path.name} không phải tệp thường của người chạy dịch vụ",
            f"{path.name} is not a regular file of this user (uid {st.st_uid})")
    return stat.S_IMODE(st.st_mode)


def _refusal(path: Path, exc: OSError) -> UnsafeTokenFolder:
    if exc.errno == errno.ELOOP:
        return UnsafeTokenFolder(path, f"{path.name} là liên kết tượng trưng (symlink), không "
                                 "mở", f"{path.name} is a symlink: not opened")
    if exc.errno == errno.EEXIST:
        return UnsafeTokenFolder(path, f"{path.name} đã có sẵn, không ghi đè",
                                 f"{path.name} already exists: not overwritten")
    return UnsafeTokenFolder(path, f"không mở được {path.name} ({exc.strerror})",
                             f"cannot open {path.name} ({exc.strerror})")
