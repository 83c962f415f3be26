"""Run a model in a separate process so the GUI process never holds torch.

Importing torch and loading TorchScript hold the GIL for hundreds of milliseconds (measured:
gaps of 0.2–1 s in a 5 ms GUI timer when done on a worker *thread*), and a crashing or
out-of-memory model would take the whole application down. Here the model runs in a child
process started through multiprocessing's ``forkserver`` (the GUI process is never forked): the
image goes over a pipe as raw bytes (``send_bytes`` on the array's buffer: no pickling copy, the
write releases the GIL), progress comes back as small messages, and the labels come back as raw
bytes. Cancelling terminates the child. Call from a worker thread (it blocks until done).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis._task import NULL_CONTEXT, Cancelled, TaskContext
from analysis.infer.manifest import ModelManifest

_POLL_S = 0.05


class ModelRunError(RuntimeError):
    """The model process failed: its error message, or how it died (e.g. killed for memory)."""


@dataclass(frozen=True)
class _Request:
    manifest: ModelManifest
    shape: tuple[int, ...]
    dtype: str
    spacing_zyx_mm: tuple[float, ...]
    direction: tuple[float, ...]
    device: str
    threads: int | None
    precision: str


def _child(conn) -> None:
    """Child process: receive the request and image, run the model, send labels back."""
    try:
        os.nice(5)  # the model yields the CPU to the GUI process when both want it
        request: _Request = conn.recv()
        buffer = bytearray(int(np.prod(request.shape)) * np.dtype(request.dtype).itemsize)
        conn.recv_bytes_into(buffer)
        image = np.frombuffer(buffer, dtype=request.dtype).reshape(request.shape)
        import torch

        if request.threads:
            torch.set_num_threads(request.threads)
        from analysis.infer.run import run_model

        last = [0.0]

        def report(fraction: float, message: str) -> None:
            if fraction - last[0] >= 0.01 or fraction >= 1.0:
                last[0] = fraction
                conn.send(("progress", float(fraction), message))

        result = run_model(request.manifest, image, request.spacing_zyx_mm, request.direction,
                           device=request.device, ctx=TaskContext(report=report))
        if isinstance(result, np.ndarray):  # label arrays: raw bytes, no pickling copy
            labels = np.ascontiguousarray(result)
            conn.send(("done", labels.shape, labels.dtype.str))
            conn.send_bytes(memoryview(labels).cast("B"))
        else:  # detections / class probabilities: small objects of our own code
            conn.send(("done_object", result))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent as one line
        text = str(exc).strip().splitlines()
        conn.send(("error", f"{type(exc).__name__}: {text[0] if text else ''}"))
    finally:
        conn.close()


def run_model_isolated(manifest: ModelManifest, image_zyx: np.ndarray, spacing_zyx_mm: Sequence[float],
                       direction: Sequence[float], *, device: str = "cpu", threads: int | None = None,
                       precision: str = "fp32", ctx: TaskContext = NULL_CONTEXT) -> Any:
    """Run ``manifest``'s model in a child process; return what :func:`run_model` returns for its task.

    Label arrays (segmentation) come back as raw bytes; detections and class probabilities
    (small objects built by MedWS's own runners in the child) come back through the pipe.

    Raises
    ------
    Cancelled
        ``ctx`` asked to stop (the child is terminated).
    ModelRunError
        The model raised, or the process died (exit code / signal in the message).
    """
    image = np.ascontiguousarray(image_zyx)
    context = mp.get_context("forkserver")
    parent, child = context.Pipe()
    process = context.Process(target=_child, args=(child,), daemon=True, name=f"medws-model-{manifest.name}")
    process.start()
    child.close()
    try:
        parent.send(_Request(manifest, image.shape, image.dtype.str, tuple(map(float, spacing_zyx_mm)),
                             tuple(map(float, direction)), device, threads, precision))
        parent.send_bytes(memoryview(image).cast("B"))
        while True:
            if ctx.is_cancelled():
                raise Cancelled
            if not parent.poll(_POLL_S):
                if not process.is_alive() and not parent.poll(0):
                    raise ModelRunError(f"{manifest.id}: model process died (exit code {process.exitcode})")
                continue
            try:
                message = parent.recv()
            except EOFError:
                raise ModelRunError(f"{manifest.id}: model process died (exit code {process.exitcode})") from None
            if message[0] == "progress":
                ctx.report(message[1], message[2])
            elif message[0] == "error":
                raise ModelRunError(f"{manifest.id}: {message[1]}")
            elif message[0] == "done_object":
                return message[1]
            else:
                _, shape, dtype = message
                out = bytearray(int(np.prod(shape)) * np.dtype(dtype).itemsize)
                parent.recv_bytes_into(out)
                return np.frombuffer(out, dtype=dtype).reshape(shape)
    finally:
        parent.close()
        if process.is_alive():
            process.terminate()
        process.join(5)
