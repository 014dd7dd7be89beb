"""Atomic file writes: the new bytes reach the target whole, or the target is left as it was.

`atomic_write` writes to a temporary file in the target's directory, fsyncs it and renames it
onto the target. On Linux the temporary file is an unnamed O_TMPFILE inode, which vanishes with
the process however it dies (even by SIGKILL), and gets a name only for the instant between
linking it in and the rename (about 0.1 ms: a SIGKILL landing there leaves that complete file
behind). Elsewhere, or where the filesystem or /proc does not allow that, it is a named file
that any exception removes (but SIGKILL does not). Temporary names carry the writer's pid,
`.<name>.<pid>-<hex>.tmp`, and each write first removes those of writers that no longer exist,
so a file killed mid-write leaves nothing behind past the next save to the same target.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import tempfile

__all__ = ["atomic_write"]


def atomic_write(path: str, data: bytes) -> None:
    """Writes `data` to a temporary file next to `path`, fsyncs it and renames it onto `path`
    (see the module docstring). The file gets the mode a plain open() would give it.

    Raises:
        OSError: the write failed, or `path` is a device, FIFO or socket (which the rename
            would replace by a regular file: saving to /dev/null must not destroy it); `path`
            is untouched and no temporary file is left.
    """
    with contextlib.suppress(FileNotFoundError):
        if _special(os.stat(path).st_mode):
            raise OSError(errno.EINVAL, "not a regular file: refusing to replace it", path)
    directory = os.path.dirname(os.path.abspath(path))
    _remove_stale(directory, path)
    mode = _target_mode(path)
    if not _write_unnamed(directory, path, data, mode):
        _write_named(directory, path, data, mode)
    # Make the rename itself durable (best effort: not every platform can open a directory).
    with contextlib.suppress(OSError, AttributeError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _special(mode: int) -> bool:
    """A device, FIFO or socket (directories fail at the rename by themselves)."""
    return any(f(mode) for f in (stat.S_ISCHR, stat.S_ISBLK, stat.S_ISFIFO, stat.S_ISSOCK))


def _prefix(path: str) -> str:
    """The start of every temporary name for `path`."""
    return f".{os.path.basename(path)[:64]}."


def _remove_stale(directory: str, path: str) -> None:
    """Removes temporary files for `path` left by writers that no longer run (killed mid-write).
    A writer still running — this process included — keeps its own; a name that does not parse
    is not ours and is left alone. Best effort: errors are ignored."""
    prefix = _prefix(path)
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            name = entry.name
            if not (name.startswith(prefix) and name.endswith(".tmp")):
                continue
            pid_text = name[len(prefix) : -len(".tmp")].partition("-")[0]
            if not pid_text.isdigit() or int(pid_text) == os.getpid() or _alive(int(pid_text)):
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (one we may not signal exists too)."""
    if pid <= 0:
        return True  # not a real writer's pid: leave its file alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def _target_mode(path: str) -> int:
    """The mode a plain open() would leave: the replaced file's, or 0666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _write_unnamed(directory: str, path: str, data: bytes, mode: int) -> bool:
    """The O_TMPFILE write; False (nothing done) where O_TMPFILE or /proc/self/fd is missing."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return False
    try:
        fd = os.open(directory, flag | os.O_WRONLY, mode)
    except OSError as err:
        # Old kernels see O_DIRECTORY | O_WRONLY (EISDIR); some filesystems lack O_TMPFILE.
        if err.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return False
        raise
    try:
        with contextlib.suppress(OSError):
            os.fchmod(fd, mode)  # open() applied the umask to `mode`: a replaced file keeps its own
        _write_all(fd, data)
        os.fsync(fd)
        return _link_onto(fd, directory, path)
    finally:
        os.close(fd)


def _link_onto(fd: int, directory: str, path: str) -> bool:
    """Links the unnamed file `fd` into `directory` under a fresh temporary name and renames that
    onto `path` straight away; False if the link is refused (nothing done then).

    (A directory fd makes os.link call linkat(AT_SYMLINK_FOLLOW), which links the file that
    /proc/self/fd/N points to; plain link() would try to link the symlink itself.)"""
    dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        for _ in range(8):  # a name clash is all but impossible; retry rather than give up
            name = f"{_prefix(path)}{os.getpid()}-{secrets.token_hex(6)}.tmp"
            try:
                os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=dir_fd, follow_symlinks=True)
            except FileExistsError:
                continue
            except OSError:
                return False
            try:
                os.replace(name, path, src_dir_fd=dir_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=dir_fd)
                raise
            return True
        return False
    finally:
        os.close(dir_fd)


def _write_named(directory: str, path: str, data: bytes, mode: int) -> None:
    """The portable write: a named temporary file, removed on any exception."""
    prefix = f"{_prefix(path)}{os.getpid()}-"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
    try:
        try:
            # mkstemp creates the file 0600.
            with contextlib.suppress(OSError, AttributeError):
                os.fchmod(fd, mode)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022
