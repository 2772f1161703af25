"""Shared test configuration: tests marked ``@pytest.mark.gpu`` are skipped cleanly without CuPy or a device.

    @pytest.mark.gpu
    def test_something_on_the_gpu(cupy):   # the ``cupy`` fixture gives the module
        ...
"""

from __future__ import annotations

import pytest

from tinyae import backend

_GPU_READY = None


def gpu_ready() -> bool:
    """True when CuPy imports and sees a CUDA device (checked once; never raises)."""
    global _GPU_READY
    if _GPU_READY is None:
        _GPU_READY = backend.gpu_available()
    return _GPU_READY


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if gpu_items and not gpu_ready():
        skip = pytest.mark.skip(reason="needs CuPy and a CUDA device")
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture
def cupy():
    """The cupy module (only requested by tests marked gpu, which are skipped without a device)."""
    if not gpu_ready():
        pytest.skip("needs CuPy and a CUDA device")
    import cupy as cp

    return cp


def gpu_status() -> str:
    """One line for the report header: why the gpu-marked tests are skipped, or which device runs them."""
    if gpu_ready():
        import cupy as cp

        name = cp.cuda.runtime.getDeviceProperties(0)["name"]
        name = name.decode() if isinstance(name, bytes) else name
        return f"gpu tests: run on {name} (CuPy {cp.__version__})"
    try:
        import cupy  # noqa: F401
    except ImportError:
        return "gpu tests: skipped, CuPy is not installed (pip install 'tinyae[cuda12]' or 'tinyae[cuda13]')"
    except Exception as err:  # a broken install: say what broke
        return f"gpu tests: skipped, CuPy does not import ({type(err).__name__}: {err})"
    return "gpu tests: skipped, CuPy finds no CUDA device (no GPU or no driver)"


def pytest_report_header(config):
    return gpu_status()
