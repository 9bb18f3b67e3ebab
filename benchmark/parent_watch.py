"""Ties a process to its parent, so that no process of a suite outlives the command.

Imported first by the workers' fork server (``benchmark.workers.PARENT_WATCH``): it ties the
server to the process that started it before the server spends seconds importing torch, so a
CLI killed during those seconds takes the server with it. Imported anywhere else it only
defines :func:`die_with_parent` (which pool workers call in their initializer) and
:func:`in_fork_server`. Standard library only, and nothing of bnnbench: it must not register
``atexit`` handlers before ``benchmark.workers`` does (see that module's docstring).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
#: seconds between two looks at the parent id where the kernel cannot signal a parent's death
PARENT_POLL_SECONDS = 0.5


def die_with_parent() -> None:
    """End this process as soon as its parent dies, whatever kills the parent.

    Linux: the kernel sends SIGKILL on the parent's death (``PR_SET_PDEATHSIG``; no thread,
    so it is safe in the fork server, which forks workers). Elsewhere: a daemon thread that
    exits the process once ``os.getppid()`` changes (the orphan was re-parented). A parent
    that died before the call has left the process re-parented to init: it exits at once."""
    parent = os.getppid()
    if parent == 1:
        os._exit(1)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent:  # the parent died between getppid and prctl
                os._exit(1)
            return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="bnnbench-parent-watch", daemon=True).start()


def in_fork_server() -> bool:
    """True when called (at any depth) from :func:`multiprocessing.forkserver.main`: in the
    fork server process (while it imports its preload modules) and in the workers it forks."""
    frame = sys._getframe()
    while frame is not None:
        code = frame.f_code
        if code.co_name == "main" and code.co_filename.endswith(
            os.path.join("multiprocessing", "forkserver.py")
        ):
            return True
        frame = frame.f_back
    return False


if in_fork_server():
    die_with_parent()
