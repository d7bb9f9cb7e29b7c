"""A small file system the suite can fill up and free again (disk full, scenario 12), and the
CPU a process group burns meanwhile (a worker that spins on a full disk is a finding).

The file system is a tmpfs of a fixed size mounted under the scenario's home: mounting needs
root (or CAP_SYS_ADMIN); `Tmpfs.possible()` says why not otherwise, and the scenario is then
"not run". Filling writes one file until the kernel answers ENOSPC; freeing deletes it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from pathlib import Path

_PAGE = 4096
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class Tmpfs:
    def __init__(self, where: Path, size_mb: int) -> None:
        self.where = Path(where)
        self.size_mb = size_mb
        self.filler = self.where / "filler.bin"
        self.mounted = False

    @staticmethod
    def possible() -> str | None:
        """None when a tmpfs can be mounted here, else why not."""
        if os.geteuid() != 0:
            return "mounting a small file system to fill needs root"
        if not Path("/bin/mount").exists() and not Path("/usr/bin/mount").exists():
            return "no mount program"
        return None

    def mount(self) -> None:
        self.where.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755",
                                 "chaos-disk", str(self.where)],
                                capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise RuntimeError(f"mount tmpfs at {self.where} failed: {result.stderr.strip()}")
        self.mounted = True

    def free_bytes(self) -> int:
        st = os.statvfs(self.where)
        return st.f_bavail * st.f_frsize

    def fill(self) -> int:
        """Write the filler until the file system is full; bytes written."""
        written = 0
        chunk = b"\0" * (1 << 20)
        with open(self.filler, "ab", buffering=0) as f:
            while len(chunk) >= _PAGE:
                try:
                    written += f.write(chunk) or 0
                except OSError as err:
                    if err.errno != errno.ENOSPC:
                        raise
                    chunk = chunk[: len(chunk) // 2]
        return written

    def free(self) -> None:
        """Space back: the filler deleted."""
        with contextlib.suppress(FileNotFoundError):
            self.filler.unlink()

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.where)], capture_output=True, timeout=30)
            self.mounted = False

    def __enter__(self) -> Tmpfs:
        self.mount()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unmount()


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in process group `pgid` (a worker and its
    pool children, started with a session of their own), with that of the children they
    reaped (a pool process that died and was replaced still counts)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # after the command: state ppid pgrp session ... utime stime cutime cstime
        if int(fields[2]) == pgid:
            total += sum(int(f) for f in fields[11:15])
    return total / _CLK_TCK
