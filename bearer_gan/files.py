"""Atomic file writes: an output is either the old complete file or the new complete file.

Training can be interrupted at any moment (Ctrl-C, a killed job, a full disk). Every output that
is rewritten during a run is written to a temporary file in the same folder, flushed to disk and
moved over the old one with :func:`os.replace`, which is atomic on POSIX and Windows.
"""
import contextlib
import json
import os
import tempfile

__all__ = ['atomic_path', 'write_json']


@contextlib.contextmanager
def atomic_path(path: str):
    """Yield a temporary path to write to; on success it replaces ``path`` atomically, on error it is removed."""
    directory, name = os.path.split(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f'.{name}.', suffix=os.path.splitext(name)[1], dir=directory)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600 files; give them the permissions open() would
    try:
        yield temporary
        with open(temporary, 'rb') as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_json(path: str, value) -> None:
    """Write ``value`` as indented JSON, atomically."""
    with atomic_path(path) as temporary, open(temporary, 'w') as handle:
        json.dump(value, handle, indent=2, sort_keys=True)
