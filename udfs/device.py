"""Where vector kernels run: the CPU (Numba) or a CUDA device (CuPy).

``RAISE_DEVICE`` chooses: ``cpu`` never touches CuPy, ``gpu`` requires a device (and fails
with :class:`~grammar.errors.Unsupported` without one), ``auto`` (the default) uses the
device where it wins: for columns already resident in device memory (see
:mod:`udfs.resident`), and for host batches of at least :data:`GPU_MIN_BYTES`.
A host-fed GPU kernel is bounded by the host-to-device copy; on a 16-core H200 host it
ran slower than the CPU kernel, hence the high default threshold (``RAISE_GPU_MIN_BYTES``
tunes it for hosts with few cores and a fast bus).
"""
from __future__ import annotations

import functools
import os

from grammar.errors import Unsupported
from udfs.errors import InvalidDevice

DEVICE_ENV = "RAISE_DEVICE"
MODES = ("cpu", "gpu", "auto")

#: Host batches smaller than this stay on the CPU in ``auto`` mode.
GPU_MIN_BYTES = int(os.environ.get("RAISE_GPU_MIN_BYTES", 1 << 30))


def device_mode() -> str:
    """The requested mode from ``RAISE_DEVICE`` (read on every call, so tests can switch)."""
    mode = os.environ.get(DEVICE_ENV, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise InvalidDevice(f"{DEVICE_ENV}={mode!r} is not one of {', '.join(MODES)}",
                            name=DEVICE_ENV)
    return mode


@functools.cache
def gpu_available() -> bool:
    """True when CuPy imports and a CUDA device answers (asked once per process)."""
    try:
        import cupy
    except ImportError:
        return False
    try:
        return bool(cupy.cuda.is_available())
    except Exception:  # noqa: BLE001 - any driver/runtime failure means "no device"
        return False


def use_gpu(nbytes: int, *, resident: bool) -> bool:
    """Whether to run a kernel over ``nbytes`` of vector data on the device.

    ``resident`` says the data already lives in device memory.
    """
    mode = device_mode()
    if mode == "cpu":
        return False
    if mode == "gpu":
        if not gpu_available():
            raise Unsupported(f"{DEVICE_ENV}=gpu but no CUDA device is available "
                              "(install cupy-cuda13x and check the driver)", name=DEVICE_ENV)
        return True
    if not gpu_available():
        return False
    return resident or nbytes >= GPU_MIN_BYTES
