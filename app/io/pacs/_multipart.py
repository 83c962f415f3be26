"""A strict streaming reader of ``multipart/related`` WADO-RS responses.

Why not ``dicomweb-client``'s decoder: when the connection drops mid-response it yields the
truncated last part as if it were complete (seen with Orthanc killed mid-retrieve), and it decodes
every part into a pydicom Dataset that must then be encoded again. Here a part is handed out only
once the next boundary has arrived, the bytes are the server's file unchanged, and a stream that
ends before the closing boundary raises :class:`TruncatedMultipart`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["TruncatedMultipart", "boundary_of", "iter_parts"]


class TruncatedMultipart(Exception):
    """The response ended before its closing boundary (connection lost)."""


def boundary_of(content_type: str) -> bytes:
    """Return the boundary parameter of a ``multipart/related`` Content-Type; ``ValueError`` otherwise."""
    media, *params = [p.strip() for p in content_type.split(";")]
    if media.lower() != "multipart/related":
        raise ValueError(f"expected multipart/related, got {media[:60]!r}")
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"').encode("ascii")
    raise ValueError("multipart/related without a boundary")


def _body(part: bytes) -> bytes:
    head, sep, body = part.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("multipart part without headers/body separator")
    return body


def iter_parts(chunks: Iterable[bytes], boundary: bytes) -> Iterator[bytes]:
    """Yield the body of each part of a multipart stream as it completes.

    Parameters
    ----------
    chunks
        The response body in arbitrary pieces.
    boundary
        From :func:`boundary_of`.

    Raises
    ------
    TruncatedMultipart
        The stream ended before the closing ``--boundary--``.
    """
    opening = b"--" + boundary
    delimiter = b"\r\n--" + boundary
    buf = bytearray()
    started = False
    search_from = 0
    for chunk in chunks:
        buf += chunk
        if not started:
            at = buf.find(opening)
            if at < 0:
                continue
            del buf[: at + len(opening)]
            started = True
            search_from = 0
        while True:
            at = buf.find(delimiter, search_from)
            if at < 0:
                search_from = max(0, len(buf) - len(delimiter))
                break
            part = bytes(buf[:at])
            del buf[: at + len(delimiter)]
            search_from = 0
            if part.startswith(b"--"):  # the text after the closing delimiter (epilogue)
                return
            yield _body(part.lstrip(b" \t").removeprefix(b"\r\n"))
        if started and buf.startswith(b"--"):
            return  # closing delimiter "--boundary--"
    if started and buf.startswith(b"--"):
        return
    raise TruncatedMultipart
