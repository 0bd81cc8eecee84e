"""The processes of a deployment, found by a marker in their environment.

Why not a process group: a SuperLink and a SuperNode start further processes in sessions of their own
(SuperExec, ``flwr-serverapp``, ``flwr-clientapp``), which a process group does not reach, while
every child inherits its parent's environment. So :class:`~bearer_gan.federated.deployment.LocalDeployment`
starts each process with ``MARKER=<a unique value>``, and :func:`marked_processes` finds them all,
by PID, through Linux's ``/proc``.
"""
import os
from pathlib import Path
from typing import List

__all__ = ['MARKER', 'marked_processes']

#: The environment variable whose value marks the processes of one deployment.
MARKER = 'BEARER_GAN_DEPLOYMENT'


def marked_processes(marker: str) -> List[int]:
    """PIDs of the processes whose environment holds ``MARKER=marker`` (Linux ``/proc``)."""
    needle = f'{MARKER}={marker}'.encode()
    found = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / 'environ').read_bytes().split(b'\0'):
                state = (entry / 'stat').read_text().rsplit(')', 1)[1].split()[0]
                if state != 'Z':  # a zombie has exited already; its parent reaps it
                    found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours
            continue
    return found
