"""Backend: array module, devices, dtype policy, seeded randomness, input checks."""

import numpy as np
import pytest

from tinyae import backend


def test_array_module_of_numpy_is_numpy():
    assert backend.array_module(np.zeros(2)) is np
    assert backend.device_of(np.zeros(2)) == "cpu"


def test_to_device_cpu_is_a_no_op_for_numpy():
    x = np.arange(3.0)
    assert backend.to_device(x, "cpu") is x


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match="'tpu'"):
        backend.to_device(np.zeros(1), "tpu")


def test_gpu_without_cupy_or_device_gives_one_clear_error():
    if backend.gpu_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="(CuPy|CUDA device)"):
        backend.to_device(np.zeros(1), "gpu")


def test_importing_tinyae_does_not_import_cupy():
    import subprocess
    import sys

    code = "import sys, tinyae, tinyae.models, tinyae.gradcheck; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_make_rng_is_seeded_and_passes_generators_through():
    a = backend.make_rng(7).normal(size=3)
    b = backend.make_rng(7).normal(size=3)
    np.testing.assert_array_equal(a, b)
    g = np.random.default_rng(1)
    assert backend.make_rng(g) is g
    with pytest.raises(TypeError, match="seed"):
        backend.make_rng("seven")


def test_to_unit_float_has_one_rule_for_integers():
    x = np.array([0, 128, 255], dtype=np.uint8)
    y = backend.to_unit_float(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [0, 128 / 255, 1])
    with pytest.raises(TypeError, match="uint8"):
        backend.to_unit_float(np.array([1, 2], dtype=np.int64))


@pytest.mark.parametrize(
    ("x", "kwargs", "error", "match"),
    [
        ([1.0, 2.0], {}, TypeError, "NumPy or CuPy array"),
        (np.array([1, 2]), {}, TypeError, "float32 or float64.*int64.*to_unit_float"),
        (np.array([1 + 2j]), {}, TypeError, "complex128"),
        (np.array(["a"], dtype=object), {}, TypeError, "object"),
        (np.ones((2, 3)), {"ndim": 4}, ValueError, r"4-D array, got shape \(2, 3\)"),
        (np.ones((0, 3)), {}, ValueError, "empty batch"),
        (np.ones((2, 3)), {"tail": (4,)}, ValueError, r"expected shape \(N, 4\), got \(2, 3\)"),
        (np.ones((2, 3)), {"dtype": np.float32}, TypeError, "float64 does not match.*float32"),
        (np.array([[1.0, np.nan]]), {}, ValueError, "1 NaN/Inf"),
        (np.array([[np.inf, -np.inf]]), {}, ValueError, "2 NaN/Inf"),
    ],
)
def test_check_array_names_the_caller_and_the_problem(x, kwargs, error, match):
    with pytest.raises(error, match=match) as info:
        backend.check_array(x, "MyLayer.forward", **kwargs)
    assert "MyLayer.forward" in str(info.value)


def test_check_array_accepts_huge_finite_values():
    x = np.full((4, 4), 3e38, dtype=np.float32)  # the sum overflows, the values are fine
    assert backend.check_array(x, "here") is x
