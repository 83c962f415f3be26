"""Voxels shown straight from a mapped file, then moved into the process's own memory.

Opening a CT of 300×512×512 int16 by ``read()`` copies 150 MB into freshly allocated pages before
the first slice can be drawn. Mapping the file (private, read-only for numpy) costs nothing up
front: the pages the first frame touches come from the page cache. Once the image is on screen,
:func:`detach_from_file` copies the voxels into anonymous memory and puts that memory at the very
same address (``mremap`` with ``MREMAP_FIXED``), so every array and VTK object that points at the
voxels keeps working and no longer depends on the file: deleting, rewriting or truncating it
afterwards changes nothing in the viewer. (A private file mapping alone is not enough: truncating
the file discards even copied-on-write pages, and the next read is a SIGBUS.)

Between mapping and detaching (a fraction of a second at start-up) the file must not be truncated
in place; that is the same exposure as any memory-mapped reader (nibabel's default) and it is
never taken for arrays that can be edited: only read-only image voxels are mapped.

Linux only (``mremap``); elsewhere :func:`map_file_voxels` returns None and callers read the file.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
import threading
import weakref

import numpy as np

__all__ = ["detach_from_file", "is_file_mapped", "map_file_voxels"]

_MREMAP_MAYMOVE, _MREMAP_FIXED = 1, 2
_MAP_FAILED = ctypes.c_void_p(-1).value


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_long)
        libc.munmap.restype = ctypes.c_int
        libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
        libc.mremap.restype = ctypes.c_void_p  # void *mremap(old, old_size, new_size, flags, new_address)
        libc.mremap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def _unmap(address: int, length: int) -> None:
    if _LIBC is not None:
        _LIBC.munmap(address, length)


class _Mapping:
    """One ``mmap`` of a file prefix; numpy arrays over it keep it alive through their ``base``.

    ``file_backed`` is True until :func:`detach_from_file` has replaced the pages by anonymous
    memory. The region is unmapped when the last array using it is gone.
    """

    def __init__(self, address: int, length: int, offset: int, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        self.address, self.length = address, length
        self.file_backed = True
        self.lock = threading.Lock()
        self.__array_interface__ = {"version": 3, "shape": shape, "typestr": dtype.str,
                                    "data": (address + offset, True)}  # read-only for numpy
        weakref.finalize(self, _unmap, address, length)


def map_file_voxels(fileno: int, offset: int, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray | None:
    """A read-only array of ``shape`` × native ``dtype`` at byte ``offset`` of an open file, mapped.

    Returns None where mapping is not possible (not Linux, a byte order other than native, a file
    shorter than the voxels, a file system that cannot map); the caller then reads the file.
    Any thread; the file may be closed afterwards (the mapping keeps its own reference).
    """
    dtype = np.dtype(dtype)
    length = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if _LIBC is None or not dtype.isnative or length <= offset:
        return None
    try:
        if os.fstat(fileno).st_size < length:
            return None
    except OSError:
        return None
    address = _LIBC.mmap(None, length, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE, fileno, 0)
    if address in (None, _MAP_FAILED):
        return None
    return np.asarray(_Mapping(address, length, offset, dtype, tuple(shape)))


def _mapping_of(array: np.ndarray) -> _Mapping | None:
    base = array
    while base is not None and not isinstance(base, _Mapping):
        base = getattr(base, "base", None)
    return base


def is_file_mapped(array: np.ndarray) -> bool:
    """True while ``array``'s voxels are still the pages of a mapped file."""
    mapping = _mapping_of(array)
    return mapping is not None and mapping.file_backed


def detach_from_file(array: np.ndarray) -> bool:
    """Move a mapped array's voxels into anonymous memory at the same address; True if it did.

    Copies the mapping into a fresh anonymous region (with the GIL released) and moves that region
    over the file mapping with ``mremap``; arrays, views and VTK objects that point at the voxels
    see the same values throughout. Returns False for an array that is not mapped or is detached
    already. Any thread (the voxels are read-only, so nothing is written during the copy).

    Raises
    ------
    OSError
        The kernel refused the anonymous region or the move (the mapping is left as it was).
    """
    mapping = _mapping_of(array)
    if mapping is None or _LIBC is None:
        return False
    with mapping.lock:
        if not mapping.file_backed:
            return False
        length = mapping.length
        fresh = _LIBC.mmap(None, length, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        if fresh in (None, _MAP_FAILED):
            errno = ctypes.get_errno()
            raise OSError(errno, f"no memory to copy a mapped volume of {length} bytes: {os.strerror(errno)}")
        ctypes.memmove(fresh, mapping.address, length)
        moved = _LIBC.mremap(fresh, length, length, _MREMAP_MAYMOVE | _MREMAP_FIXED, mapping.address)
        if moved != mapping.address:
            errno = ctypes.get_errno()
            _LIBC.munmap(fresh, length)
            raise OSError(errno, f"cannot move the copied volume into place: {os.strerror(errno)}")
        mapping.file_backed = False
    return True
