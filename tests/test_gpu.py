"""The GPU suite (``pytest -m gpu``): the proofs of the CPU suite again on CuPy arrays.

- every gradient check of ``tinyae gradcheck`` (tinyae/gradcheck/cases.py), with the layer or loss and
  its inputs moved to the GPU;
- twin equality: each layer's forward and backward, an Adam step and a whole training step give on the
  GPU what they give on the CPU (the Numba/CuPy kernel twins are compared in tests/test_kernels.py);
- a training step makes no implicit device-to-host copy (CuPy's synchronisation guard);
- ``tinyae bench --backend gpu`` runs.

Without CuPy or a CUDA device every test here is skipped with the reason (tests/conftest.py), and the
last test, which runs on the CPU, checks exactly that.
"""

import contextlib
import subprocess
import sys
import warnings

import numpy as np
import pytest

from tinyae import backend
from tinyae.cli import bench
from tinyae.cli.bench.networks import LATENT, NETWORKS, build_model, synthetic_data
from tinyae.gradcheck.cases import layer_cases, loss_cases
from tinyae.optim import Adam

LAYER_CASES = [case.name for case in layer_cases()]
LOSS_CASES = [case.name for case in loss_cases()]


def _on_gpu(cupy, monkeypatch):
    """Make the suite's checks move what they are given to the GPU before checking it.

    The cases of tinyae.gradcheck.cases build their layer (or loss) and float64 inputs on the host and call
    ``check_layer`` / ``check_loss`` by their names in that module when a case runs; wrapping those two
    names there runs the very same cases on CuPy arrays.
    """
    import tinyae.gradcheck.cases as gradcheck

    check_layer, check_loss = gradcheck.check_layer, gradcheck.check_loss

    def check_layer_on_gpu(layer, x, **kwargs):
        layer.to("gpu")
        return check_layer(layer, cupy.asarray(x), **kwargs)

    def check_loss_on_gpu(loss, *inputs, **kwargs):
        for p in loss.params():
            p.to("gpu")
        return check_loss(loss, *(cupy.asarray(a) for a in inputs), **kwargs)

    monkeypatch.setattr(gradcheck, "check_layer", check_layer_on_gpu)
    monkeypatch.setattr(gradcheck, "check_loss", check_loss_on_gpu)


def _case(cases, name):
    return next(case for case in cases if case.name == name)


@pytest.mark.gpu
@pytest.mark.parametrize("name", LAYER_CASES)
def test_layer_gradient_check_on_the_gpu(cupy, monkeypatch, name):
    _on_gpu(cupy, monkeypatch)
    report = _case(layer_cases(), name).run()
    assert report.passed, report


@pytest.mark.gpu
@pytest.mark.parametrize("name", LOSS_CASES)
def test_loss_gradient_check_on_the_gpu(cupy, monkeypatch, name):
    _on_gpu(cupy, monkeypatch)
    report = _case(loss_cases(), name).run()
    assert report.passed, report


# --------------------------------------------------------------------------------------------------
# Twin equality: the same numbers on the CPU and on the GPU
# --------------------------------------------------------------------------------------------------


def _layer_and_input(name):
    """The suite's layer for case ``name`` and its float64 input, captured on the host (nothing is run)."""
    import tinyae.gradcheck.cases as gradcheck

    captured = {}

    def capture(layer, x, **kwargs):
        captured.update(layer=layer, x=x, training=kwargs.get("training", False))

    original = gradcheck.check_layer
    gradcheck.check_layer = capture
    try:
        _case(layer_cases(), name).run()
    finally:
        gradcheck.check_layer = original
    return captured["layer"], captured["x"], captured["training"]


@pytest.mark.gpu
@pytest.mark.parametrize("name", LAYER_CASES)
def test_layer_forward_and_backward_equal_on_cpu_and_gpu(cupy, name):
    import copy

    layer, x, training = _layer_and_input(name)
    gpu_layer = copy.deepcopy(layer).to("gpu")  # the same weights, and the same noise Generator state
    y = layer.forward(x, training=training)
    y_gpu = gpu_layer.forward(cupy.asarray(x), training=training)
    dy = np.random.default_rng(1).normal(size=y.shape)
    dx = layer.backward(dy)
    dx_gpu = gpu_layer.backward(cupy.asarray(dy))
    assert isinstance(y_gpu, cupy.ndarray) and isinstance(dx_gpu, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(y_gpu), y, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cupy.asnumpy(dx_gpu), dx, rtol=1e-12, atol=1e-14)
    for p, q in zip(layer.params(), gpu_layer.params()):
        np.testing.assert_allclose(cupy.asnumpy(q.grad), p.grad, rtol=1e-12, atol=1e-14, err_msg=p.name)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_step_on_the_gpu_equals_the_fused_cpu_step(cupy, dtype):
    from tinyae.layers import Param

    rng = np.random.default_rng(0)
    cpu = Param(rng.normal(size=(40, 30)).astype(dtype), "W")
    gpu = Param(cpu.value.copy(), "W").to("gpu")
    opt_cpu, opt_gpu = Adam([cpu], lr=1e-2, weight_decay=0.01), Adam([gpu], lr=1e-2, weight_decay=0.01)
    for _ in range(3):
        g = rng.normal(size=cpu.shape).astype(dtype)
        cpu.grad[...] = g
        gpu.grad[...] = cupy.asarray(g)
        opt_cpu.step()
        opt_gpu.step()
    rtol = 1e-5 if dtype == np.float32 else 1e-12  # CUDA's sqrt and division round like the CPU's, but may fuse
    np.testing.assert_allclose(cupy.asnumpy(gpu.value), cpu.value, rtol=rtol)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_cupy_adam_twin_computes_the_reference_update(cupy, dtype):
    """kernels/cupy_gpu.adam_update (one launch per Param) against the NumPy reference lines of
    Adam._update on the host, over three steps with weight decay. CUDA contracts a * b + c into one
    fused multiply-add (one rounding instead of two), so the two agree to a few ulps, not bit for bit."""
    from tinyae.kernels import cupy_gpu
    from tinyae.layers import Param

    rng = np.random.default_rng(3)
    shapes = [(40, 30), (30,), (7, 1, 3, 3)]
    host = [Param(rng.normal(size=s).astype(dtype), f"p{k}") for k, s in enumerate(shapes)]
    ref = Adam(host, lr=1e-2, weight_decay=0.01)
    ws = [cupy.asarray(p.value) for p in host]
    ms, vs = [cupy.zeros_like(w) for w in ws], [cupy.zeros_like(w) for w in ws]
    for t in (1, 2, 3):
        grads = [rng.normal(size=p.shape).astype(dtype) for p in host]
        for p, g in zip(host, grads):
            p.grad[...] = g
        ref.t = t
        for i, p in enumerate(host):
            ref._update(i, p)  # the reference lines, Param by Param
        cupy_gpu.adam_update(ws, [cupy.asarray(g) for g in grads], ms, vs, lr=1e-2, beta1=0.9, beta2=0.999,
                             eps=1e-8, t=t, weight_decay=0.01)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    for p, w in zip(host, ws):
        assert w.dtype == dtype
        np.testing.assert_allclose(cupy.asnumpy(w), p.value, rtol=rtol, atol=0, err_msg=p.name)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_cupy_bce_with_logits_twin_computes_the_reference_formulas(cupy, dtype):
    from tinyae.kernels import cupy_gpu

    rng = np.random.default_rng(4)
    z = (rng.normal(size=(64, 33)) * 8).astype(dtype)  # saturated logits too: |z| up to about 30
    t = rng.random((64, 33)).astype(dtype)
    total, e = cupy_gpu.bce_with_logits_forward(cupy.asarray(z), cupy.asarray(t))
    want = np.sum(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(float(total), want, rtol=rtol)
    dz = cupy_gpu.bce_with_logits_backward(cupy.asarray(z), cupy.asarray(t), e, 64)
    sig = np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))
    np.testing.assert_allclose(cupy.asnumpy(dz), (sig - t) / 64, rtol=rtol, atol=1e-7 if dtype == np.float32 else 0)
    assert dz.dtype == dtype


@pytest.mark.gpu
@pytest.mark.parametrize("net", list(NETWORKS))
def test_a_training_step_gives_the_same_loss_and_gradients_on_cpu_and_gpu(cupy, net):
    cpu = build_model(net).astype(np.float64)
    gpu = build_model(net).astype(np.float64).to("gpu")
    x = synthetic_data(net, 8).astype(np.float64)
    kwargs_cpu, kwargs_gpu = {}, {}
    if net == "vae":  # fix the sampling noise on both sides
        eps = np.random.default_rng(2).standard_normal((8, LATENT))
        kwargs_cpu, kwargs_gpu = {"eps": eps}, {"eps": cupy.asarray(eps)}
    loss_cpu = cpu.loss_and_backward(x, training=True, **kwargs_cpu)
    loss_gpu = gpu.loss_and_backward(cupy.asarray(x), training=True, **kwargs_gpu)
    np.testing.assert_allclose(float(loss_gpu), float(loss_cpu), rtol=1e-10)
    for (label, p), q in zip(cpu.named_params(), gpu.params()):
        np.testing.assert_allclose(cupy.asnumpy(q.grad), p.grad, rtol=1e-9, atol=1e-12, err_msg=label)


@pytest.mark.gpu
@pytest.mark.parametrize("net", list(NETWORKS))
def test_two_epochs_of_fit_on_the_gpu_track_the_cpu_run_in_float32(cupy, net):
    """The same seeds give the same run: weights, shuffles and noise are drawn on the host, so the GPU run
    differs from the CPU run only by float32 rounding (other summation orders in cuBLAS and CuPy)."""
    from tinyae.train import fit

    x = synthetic_data(net, 256)
    losses = {}
    for device in ("cpu", "gpu"):
        model = build_model(net).to(device)
        history = fit(model, backend.to_device(x, device), epochs=2, batch_size=64,
                      optimizer=Adam(model.params(), lr=1e-3), seed=0, verbose=0)
        losses[device] = history.loss
    np.testing.assert_allclose(losses["gpu"], losses["cpu"], rtol=1e-4)


@pytest.mark.gpu
def test_the_tour_trains_on_the_gpu(cupy, tmp_path, capsys):
    from tinyae.cli import main

    assert main(["tour", "--quick", "--backend", "gpu", "--out", str(tmp_path)]) == 0
    assert "Trained on the GPU" in (tmp_path / "report.md").read_text()


# --------------------------------------------------------------------------------------------------
# No hidden device-to-host copies
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _no_device_to_host(cupy):
    """Inside: any CuPy device-to-host copy (``.get()``, ``float()``, ``bool()``, ...) raises.

    Uses ``cupyx.allow_synchronize(False)``, CuPy's documented guard (deprecated since CuPy 10 because it
    may MISS a synchronisation outside CuPy; it never reports one that did not happen). Before relying on
    it, check that it catches a known copy; where it is gone or inert, skip, saying so.
    """
    import cupyx

    guard = getattr(cupyx, "allow_synchronize", None)
    if guard is None:
        pytest.skip("this CuPy has no cupyx.allow_synchronize (the documented synchronisation guard)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation warning
        with guard(False):
            try:
                float(cupy.ones(()))
            except Exception as err:  # cupyx.DeviceSynchronized: the guard works
                assert "synchroniz" in str(err).lower() or type(err).__name__ == "DeviceSynchronized", err
            else:
                pytest.skip("cupyx.allow_synchronize(False) did not catch float(array): the guard is inert here")
            yield


@pytest.mark.gpu
@pytest.mark.parametrize("net", list(NETWORKS))
def test_a_training_step_makes_no_implicit_device_to_host_copy(cupy, net):
    model = build_model(net).to("gpu")
    opt = Adam(model.params())
    x = cupy.asarray(synthetic_data(net, 16))

    def step():
        model.zero_grad()
        loss = model.loss_and_backward(x, training=True)
        opt.step()
        return loss

    float(step())  # a first step outside the guard: kernels compile, the memory pool fills
    with _no_device_to_host(cupy):
        loss = step()  # forward, loss, backward, Adam: all on the device, the loss stays a device array
    assert isinstance(loss, cupy.ndarray)
    assert np.isfinite(float(loss))  # the one host copy of a step, as fit makes it: explicit, outside


@pytest.mark.gpu
def test_bench_runs_on_the_gpu(cupy, capsys):
    assert bench.main(["dense", "conv", "--backend", "gpu", "--n", "256", "--epochs", "1", "--warmup", "1",
                       "--inprocess"]) == 0
    out = capsys.readouterr().out
    assert "backend gpu" in out and "s/epoch" in out and "GFLOP/s" in out


# --------------------------------------------------------------------------------------------------
# Where there is no GPU (runs on the CPU)
# --------------------------------------------------------------------------------------------------


def test_gpu_suite_skips_cleanly_with_the_reason_without_a_gpu():
    if backend.gpu_available():
        pytest.skip("a GPU is present: the suite runs instead of skipping")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider",
                           __file__], capture_output=True, text=True, cwd=str(_repo_root()))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out  # all skipped, none failed or errored
    assert " passed" not in out and " failed" not in out and "error" not in out.lower(), out
    assert "skipped" in out and "CuPy" in out and "CUDA device" in out, out


def test_the_tour_says_in_one_line_that_it_needs_a_gpu_before_any_work(tmp_path, capsys):
    if backend.gpu_available():
        pytest.skip("a GPU is present: the tour runs on it instead")
    from tinyae.cli import main

    assert main(["tour", "--quick", "--backend", "gpu", "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--backend gpu needs CuPy and a CUDA device" in err, err
    assert not (tmp_path / "t").exists()  # nothing was written


def _repo_root():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent
