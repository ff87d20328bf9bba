"""Files written safely, for every module that writes.

- :func:`atomic_path`, :func:`atomic_write`: a temporary file beside the target, renamed into place
  when complete, so a reader never sees half a file. It is created as ``open`` creates files, so the
  umask applies (``tempfile.mkstemp`` makes them 0600: unreadable to the other users of a shared
  disk, such as Dask workers).
- :func:`request_interrupt`: once called, no temporary file is renamed into place any more. A signal
  handler's KeyboardInterrupt is lost when it fires inside a destructor (Python prints it as
  "Exception ignored" and goes on); the request is not, so the interrupted write still stops.
- :func:`remove_stale_tmp`: the temporary files that killed writers left behind.
- :func:`flock`: advisory locks on an open file.
- :func:`available_memory`, :func:`human_size`: the room a write needs, in words.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator

#: temporary files are named ``.<target name>.<random>.tmp``: hidden, and ignored by pyarrow datasets
TMP_SUFFIX = ".tmp"

_interrupt_requested = False


def request_interrupt(requested: bool = True) -> None:
    """From now on (or, with False, no longer) every :func:`atomic_path` raises KeyboardInterrupt
    instead of renaming its file into place."""
    global _interrupt_requested
    _interrupt_requested = requested


def interrupt_requested() -> bool:
    """Whether :func:`request_interrupt` is in force."""
    return _interrupt_requested


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty temporary path beside ``path``; it replaces ``path`` if the block succeeds
    and is removed if it raises (or is interrupted)."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{TMP_SUFFIX}"
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # 0666 minus the umask
    try:
        yield tmp
        if _interrupt_requested:
            raise KeyboardInterrupt
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(path)


def remove_stale_tmp(directory: str | os.PathLike, name: str = "*") -> list[Path]:
    """Delete the temporary files that killed writers left for targets matching ``name`` in
    ``directory``; only call this while no other process may be writing there."""
    removed = []
    for tmp in Path(directory).glob(f".{name}.*{TMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def flock(fh, how: str, *, wait: bool = True) -> bool:
    """``flock`` the open file ``fh`` ("shared", "exclusive" or "unlock"); False if ``wait`` is off and
    another holder is in the way. Without fcntl (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        return True
    op = {"shared": fcntl.LOCK_SH, "exclusive": fcntl.LOCK_EX, "unlock": fcntl.LOCK_UN}[how]
    try:
        fcntl.flock(fh, op if wait else op | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (None if the system does not say)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def human_size(n: float) -> str:
    """``n`` bytes in decimal units, three significant digits: ``"10.4 TB"``."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} TB"
