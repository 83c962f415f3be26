"""Run a detection or classification model in a child process and return its (picklable) result.

:func:`analysis.infer.isolated.run_model_isolated` ships label arrays back as raw bytes, which
fits segmentation only; detection returns ``Detection`` objects and classification a dict, so this
module sends the result back pickled. Same rules as there: ``forkserver`` (the GUI process is
never forked), progress as small messages, cancelling terminates the child, and torch is never
imported into the GUI process. No Qt here (the child imports this module). Call from a worker
thread: it blocks until the model is done.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence
from typing import Any

import numpy as np

from analysis._task import NULL_CONTEXT, Cancelled, TaskContext
from analysis.infer.isolated import ModelRunError
from analysis.infer.manifest import ModelManifest

_POLL_S = 0.05


def _child(conn) -> None:  # noqa: ANN001 - a multiprocessing Connection
    """Child process: receive the request, run the model, send the result (pickled)."""
    try:
        manifest, image, spacing, direction, threads = conn.recv()
        import torch

        if threads:
            torch.set_num_threads(threads)
        from analysis.infer.run import run_model

        def report(fraction: float, message: str) -> None:
            conn.send(("progress", float(fraction), message))

        result = run_model(manifest, image, spacing, direction, ctx=TaskContext(report=report))
        conn.send(("done", result))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent as one line
        text = str(exc).strip().splitlines()
        conn.send(("error", f"{type(exc).__name__}: {text[0] if text else ''}"))
    finally:
        conn.close()


def run_model_in_child(manifest: ModelManifest, image_zyx: np.ndarray, spacing_zyx_mm: Sequence[float],
                       direction: Sequence[float], *, threads: int | None = None,
                       ctx: TaskContext = NULL_CONTEXT) -> Any:
    """Run any model task in a child process; return what :func:`analysis.infer.run.run_model` returns.

    Raises
    ------
    Cancelled
        ``ctx`` asked to stop (the child is terminated).
    ModelRunError
        The model raised, or the process died.
    """
    context = mp.get_context("forkserver")
    parent, child = context.Pipe()
    process = context.Process(target=_child, args=(child,), daemon=True, name=f"medws-model-{manifest.name}")
    process.start()
    child.close()
    try:
        parent.send((manifest, np.ascontiguousarray(image_zyx), tuple(map(float, spacing_zyx_mm)),
                     tuple(map(float, direction)), threads))
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
            else:
                return message[1]
    finally:
        parent.close()
        if process.is_alive():
            process.terminate()
        process.join(5)
