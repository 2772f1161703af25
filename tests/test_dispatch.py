"""The one dispatch point (tinyae/kernels/__init__.py), the teaching switch and the floors of the engine.

- Every method twin registered in tinyae/kernels is a twin of a ``@kernels.hot_spot`` method and gives
  what the method body gives (bit for bit where the arithmetic is the same, else at a stated tolerance).
- ``TINYAE_KERNELS=reference`` and ``with kernels.use("reference")`` run the method bodies, and then Numba
  is never imported: a training step of every zoo model, in a fresh process.
- The floors: the kernels import no optimizer, layer or loss; the losses reach sigmoid without the
  layers package; the noise layers do not import tinyae.data; ``import tinyae.layers`` loads no network module.
- Adam's bias correction against the (1 - b) slip, with the numbers optim.py's docstring gives.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyae import kernels
from tinyae.layers import Conv2D, Dense, ReLU, TiedDense, Upsample2D
from tinyae.layers.base import Param
from tinyae.losses import BCEWithLogits
from tinyae.optim import Adam

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, env_extra=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != kernels.ENV_VAR}
    env.update(env_extra or {})
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


# --------------------------------------------------------------------------------------------------
# Every twin against its method body
# --------------------------------------------------------------------------------------------------


def _relu(rng, dtype):
    x = rng.normal(size=(3, 4, 5)).astype(dtype)
    x.flat[:2] = (0.0, -0.0)
    layer = ReLU()
    return layer, lambda: (layer.forward(x), layer._mask, layer.backward(np.ones_like(x)))


def _upsample(rng, dtype):
    x = rng.normal(size=(2, 3, 4, 5)).astype(dtype)
    layer = Upsample2D((2, 3))
    dy = rng.normal(size=(2, 3, 8, 15)).astype(dtype)
    return layer, lambda: (layer.forward(x), layer.backward(dy))


def _bce(rng, dtype):
    z, t = (4 * rng.normal(size=(6, 7))).astype(dtype), rng.uniform(size=(6, 7)).astype(dtype)
    loss = BCEWithLogits()
    return loss, lambda: (loss.forward(z, t), loss.backward())


def _adam(rng, dtype):
    params = [Param(rng.normal(size=s).astype(dtype), f"p{k}") for k, s in enumerate([(4, 3), (3,), (2, 2, 3, 3)])]
    opt = Adam(params, lr=1e-2, weight_decay=0.1)
    grads = [rng.normal(size=p.shape).astype(dtype) for p in params]

    def steps():
        for _ in range(3):
            for p, g in zip(params, grads):
                p.grad[...] = g
            opt.step()
        return [p.value for p in params] + [b for s in opt.state for b in s.values()]

    return opt, steps


def _conv(rng, dtype):
    layer = Conv2D(4, 2, 3, padding=1, dtype=dtype, seed=0)
    layer.b.value[...] = (0.5, -0.25)
    x = rng.normal(size=(2, 4, 5, 6)).astype(dtype)
    dy = rng.normal(size=(2, 2, 5, 6)).astype(dtype)
    return layer, lambda: (layer.forward(x), layer.backward(dy), layer.W.grad, layer.b.grad)


def _dense(rng, dtype, tied=False):
    from tinyae.models import Sequential

    enc = Dense(5, 4, dtype=dtype, seed=0)
    model = Sequential(enc, TiedDense(enc)) if tied else Sequential(enc, Dense(4, 3, dtype=dtype, seed=1))
    x = rng.normal(size=(6, 5)).astype(dtype)
    dy = rng.normal(size=(6, 5 if tied else 3)).astype(dtype)

    def run():
        out = []
        for p in model.params():
            p.grad[...] = 7.0  # stale numbers
        model.zero_grad()  # then the product is written in place
        model.forward(x)
        out += [model.backward(dy)] + [p.grad.copy() for p in model.params()]
        model.forward(x)
        out += [model.backward(dy)] + [p.grad.copy() for p in model.params()]  # and added onto the first
        model.zero_grad()
        out += [p.grad.copy() for p in model.params()]  # zeros, whoever reads them
        return out

    return model, run


# hot spot -> (case builder, rtol for float32, rtol for float64); 0 means bit for bit
TWIN_CASES = {
    "ReLU.forward": (_relu, 0, 0),
    "Upsample2D.forward": (_upsample, 0, 0),
    "Upsample2D.backward": (_upsample, 0, 0),
    "BCEWithLogits.forward": (_bce, 1e-6, 1e-13),  # the float32 loop's own exp and log1p (tests/test_fused.py)
    "BCEWithLogits.backward": (_bce, 1e-6, 1e-13),
    "Adam.step": (_adam, 0, 0),
    "Dense.backward": (_dense, 0, 0),
    "Layer.zero_grad": (_dense, 0, 0),
    "TiedDense.backward": (lambda rng, dtype: _dense(rng, dtype, tied=True), 0, 0),
    "Conv2D.forward": (_conv, 1e-5, 1e-12),  # the flipped route: the same sums in another order
    "Conv2D.backward": (_conv, 1e-5, 1e-12),
}


def test_every_twin_has_a_hot_spot_and_a_test():
    kernels.twin_for("ReLU.forward", "numba")  # imports the CPU twins (and so registers them)
    kernels.twin_for("ReLU.forward", "cupy")  # registers the GPU twins (CuPy itself is imported lazily)
    registered = {name for name, _ in kernels._TWINS}
    assert registered == set(TWIN_CASES), "a twin without a case here, or a case without a twin"
    from tinyae import layers, losses, optim

    for name in registered:  # each is the twin of a method marked @kernels.hot_spot(name)
        cls_name, method = name.split(".")
        cls = next(getattr(m, cls_name) for m in (layers, losses, optim) if hasattr(m, cls_name))
        assert getattr(getattr(cls, method), "hot_spot", None) == name, name


@pytest.mark.parametrize("name", sorted(TWIN_CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_cpu_twin_gives_what_its_method_body_gives(name, dtype):
    build, rtol32, rtol64 = TWIN_CASES[name]
    rtol = rtol32 if dtype == np.float32 else rtol64
    kernels.twin_for(name, "numba")  # registers the CPU twins
    if (name, "numba") not in kernels._TWINS:
        pytest.skip(f"{name} has a GPU twin only (tested on CuPy arrays below)")
    results, ran = {}, {}
    for impl in ("reference", "auto"):
        obj, run = build(np.random.default_rng(0), dtype)
        calls = []
        function, accepts = kernels._TWINS[(name, "numba")]

        def spy(*args, _function=function, _calls=calls, **kwargs):
            _calls.append(1)
            return _function(*args, **kwargs)

        kernels._TWINS[(name, "numba")] = (spy, accepts)
        try:
            with kernels.use(impl):
                results[impl] = [np.array(a, copy=True) for a in run()]
        finally:
            kernels._TWINS[(name, "numba")] = (function, accepts)
        ran[impl] = bool(calls)
    assert ran == {"reference": False, "auto": True}  # each side really ran what it says
    for want, got in zip(results["reference"], results["auto"]):
        assert got.dtype == want.dtype and got.shape == want.shape
        if rtol == 0:
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, float(np.abs(want).max())))


def test_a_twin_declines_what_it_does_not_cover_and_the_body_runs():
    x = np.random.default_rng(1).normal(size=(1, 2, 3, 3)).astype(np.float32)
    bilinear = Upsample2D(2, mode="bilinear")
    with kernels.use("reference"):
        want = bilinear.forward(x)
    np.testing.assert_array_equal(bilinear.forward(x), want)  # the nearest-only twin declined
    conv = Conv2D(2, 3, 3, padding=1)  # more out than in channels: the flipped route would not pay
    conv.forward(x)
    assert conv._col is not None  # the layer's own im2col lines ran


def test_a_param_whose_zeros_are_pending_pickles_and_copies_as_a_plain_param():
    import copy
    import pickle

    layer = Dense(3, 2, seed=0)
    layer.W.grad[...] = 5.0
    layer.zero_grad()  # the twin: zeros pending
    for clone in (pickle.loads(pickle.dumps(layer)), copy.deepcopy(layer)):
        assert type(clone.W) is Param and np.array_equal(clone.W.grad, np.zeros((3, 2), np.float32))
        np.testing.assert_array_equal(clone.W.value, layer.W.value)
    assert np.array_equal(layer.W.grad, np.zeros((3, 2), np.float32))


def test_bce_backward_twin_after_a_forward_that_ran_the_method_body():
    rng = np.random.default_rng(2)
    z, t = rng.normal(size=(4, 5)).astype(np.float32), rng.uniform(size=(4, 5)).astype(np.float32)
    loss = BCEWithLogits()
    with kernels.use("reference"):
        loss.forward(z, t)
        want = loss.backward()
    loss._twin_exp_neg_abs = (z.copy(), np.zeros_like(z))  # a stale e of ANOTHER z must not be used
    np.testing.assert_allclose(loss.backward(), want, rtol=1e-6, atol=1e-9)


def test_use_restores_nests_wins_over_the_variable_and_refuses_unknown_names(monkeypatch):
    x = np.ones((2, 3), np.float32)
    monkeypatch.setenv(kernels.ENV_VAR, "reference")
    assert kernels.select_impl(x) == "reference"
    with kernels.use("auto"):
        assert kernels.select_impl(x) == "numba"
        with kernels.use("reference"):
            assert kernels.select_impl(x) == "reference"
            assert kernels.select_impl(x, impl="numba") == "numba"  # the argument wins
        assert kernels.select_impl(x) == "numba"
    assert kernels.select_impl(x) == "reference"
    with pytest.raises(ValueError, match=r"^tinyae.kernels.use: impl must be one of .* got 'fast'$"):
        with kernels.use("fast"):
            pass


# --------------------------------------------------------------------------------------------------
# The teaching switch: the method bodies, and Numba never imported
# --------------------------------------------------------------------------------------------------

_EVERY_ZOO_MODEL_STEP = """
import sys
import numpy as np
from tinyae import kernels, zoo
from tinyae.optim import Adam

def steps():
    rng = np.random.default_rng(0)
    for name in zoo.MODELS:
        conv = name.startswith("conv")
        model = zoo.build(name, (1, 8, 8))
        x = rng.uniform(0.05, 0.95, size=(4, 1, 8, 8) if conv else (4, 64)).astype(np.float32)
        opt = Adam(model.params(), lr=1e-3)
        model.zero_grad()
        loss = model.loss_and_backward(x)
        opt.step()
        assert np.isfinite(float(loss)), name
    print("models:", len(zoo.MODELS))

{run}
assert "numba" not in sys.modules, sorted(m for m in sys.modules if m.startswith("numba"))
print("numba imported:", "numba" in sys.modules)
"""


@pytest.mark.parametrize("how", ["environment variable", "context manager"])
def test_a_training_step_of_every_zoo_model_under_the_switch_never_imports_numba(how):
    if how == "environment variable":
        result = _run(_EVERY_ZOO_MODEL_STEP.format(run="steps()"), {kernels.ENV_VAR: "reference"})
    else:
        result = _run(_EVERY_ZOO_MODEL_STEP.format(run='with kernels.use("reference"):\n    steps()'))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "numba imported: False" in result.stdout


def test_without_the_switch_the_same_step_does_take_the_twins():
    result = _run(_EVERY_ZOO_MODEL_STEP.format(run="steps()").replace(
        'assert "numba" not in sys.modules', 'assert "numba" in sys.modules'))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "numba imported: True" in result.stdout


# --------------------------------------------------------------------------------------------------
# Floors
# --------------------------------------------------------------------------------------------------


def _imports(path: Path) -> set:
    """Every module a file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_the_engine_floors_point_down():
    engine_above_kernels = ("tinyae.optim", "tinyae.losses", "tinyae.layers", "tinyae.models", "tinyae.data")
    for path in sorted((ROOT / "tinyae" / "kernels").glob("*.py")):
        up = {m for m in _imports(path) if m.startswith(engine_above_kernels)}
        assert not up, f"{path.name} imports {sorted(up)}: the kernels sit below layers, losses and optimizers"
    for path in [ROOT / "tinyae" / "functional.py", ROOT / "tinyae" / "backend.py"]:
        up = {m for m in _imports(path) if m.startswith("tinyae.") and not m.startswith("tinyae.backend")}
        assert not up, f"{path.name} imports {sorted(up)}"
    assert not {m for m in _imports(ROOT / "tinyae" / "losses.py") if m.startswith("tinyae.layers.activations")}
    for path in sorted((ROOT / "tinyae" / "layers").glob("*.py")):
        up = {m for m in _imports(path)
              if m.startswith(("tinyae.data", "tinyae.losses", "tinyae.optim", "tinyae.models", "tinyae.train"))}
        assert not up, f"{path.name} imports {sorted(up)}"


def test_import_tinyae_layers_loads_no_network_module():
    result = _run("import sys, tinyae.layers, tinyae.losses, tinyae.optim\n"
                  "print(sorted(m for m in ('urllib.request', 'http.client', 'ssl', 'numba') if m in sys.modules))")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------------
# Adam's bias correction: exact for a constant gradient, and the (1 - b) slip's numbers
# --------------------------------------------------------------------------------------------------


def test_adam_bias_correction_against_the_slip():
    """With a constant gradient g, m_hat = g and v_hat = g^2 exactly, so every step is lr (eps aside).
    Dividing by (1 - b) instead gives the steps optim.py's docstring names: 1, 1.34, 1.57, 1.72, 1.83 lr."""
    lr, b1, b2, g = 1e-3, 0.9, 0.999, 0.37
    for impl in ("reference", "auto"):
        p = Param(np.zeros(3, np.float64), "w")
        opt = Adam([p], lr=lr, betas=(b1, b2), eps=1e-12)
        with kernels.use(impl):
            for _ in range(5):
                before = p.value.copy()
                p.grad[...] = g
                opt.step()
                np.testing.assert_allclose(before - p.value, lr, rtol=1e-9)  # exactly lr per step
    m = v = 0.0
    slip = []
    for _ in range(5):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        slip.append((m / (1 - b1)) / np.sqrt(v / (1 - b2)))  # in units of lr
    np.testing.assert_allclose(slip, [1.0, 1.34, 1.57, 1.72, 1.83], atol=5e-3)


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(TWIN_CASES))
def test_each_twin_on_cupy_arrays_gives_what_the_method_body_gives_on_them(cupy, name):
    """The same cases on CuPy arrays: the twin the dispatcher picks there (a "cupy" twin, or the body)
    against the method body under the teaching switch, both on the GPU."""
    build, rtol, _ = TWIN_CASES[name]
    results = {}
    kernels.twin_for(name, "cupy")  # registers the GPU twins
    entry = kernels._TWINS.get((name, "cupy"))
    calls = []
    if entry is not None:  # a spy on the cupy twin: it must really run (not decline every call)
        function, accepts = entry

        def spy(*args, **kwargs):
            calls.append(1)
            return function(*args, **kwargs)

        kernels._TWINS[(name, "cupy")] = (spy, accepts)
    try:
        for impl in ("reference", "auto"):
            obj, run = build(np.random.default_rng(0), np.float32)
            _to_gpu(cupy, obj)
            with kernels.use(impl):
                results[impl] = [cupy.asnumpy(cupy.asarray(a)) for a in _on_gpu_args(cupy, run)]
    finally:
        if entry is not None:
            kernels._TWINS[(name, "cupy")] = entry
    assert bool(calls) == (entry is not None), f"the cupy twin of {name} registered but never ran"
    for want, got in zip(results["reference"], results["auto"]):
        assert got.dtype == want.dtype and got.shape == want.shape
        tol = max(rtol, 1e-6)  # CUDA's exp/log1p and FMA contraction: a few ulps
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, float(np.abs(want).max())))


def _to_gpu(cupy, obj):
    if hasattr(obj, "to"):
        obj.to("gpu")
    for p in getattr(obj, "params", lambda: [])() if callable(getattr(obj, "params", None)) else obj.params:
        p.to("gpu")


def _on_gpu_args(cupy, run):
    """Run ``run`` with NumPy arrays it closes over moved to the GPU (its cells), then its results."""
    for cell in run.__closure__ or ():
        value = cell.cell_contents
        if isinstance(value, np.ndarray):
            cell.cell_contents = cupy.asarray(value)
        elif isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            cell.cell_contents = [cupy.asarray(v) for v in value]
    return run()


def test_what_a_twin_keeps_is_dropped_by_clear_cache_and_a_mixed_forward_backward_says_why():
    """A fast twin keeps its own state (named _twin_...): clear_cache drops it with the rest, and a backward
    run under the teaching switch after a forward that ran the twin says what happened, in one line."""
    rng = np.random.default_rng(0)
    conv = Conv2D(4, 2, 3, padding=1, seed=0)  # F <= C, stride 1: the flipped route's twin takes the forward
    x = rng.normal(size=(2, 4, 6, 6)).astype(np.float32)
    conv.forward(x)
    assert any(n.startswith("_twin_") for n in vars(conv))
    with kernels.use("reference"), pytest.raises(RuntimeError, match="the forward ran a fast twin") as err:
        conv.backward(rng.normal(size=(2, 2, 6, 6)).astype(np.float32))
    assert len(str(err.value).splitlines()) == 1
    conv.clear_cache()
    assert not any(n.startswith("_twin_") for n in vars(conv)) and conv._x_shape is None
    loss = BCEWithLogits()
    loss.forward(rng.normal(size=(3, 4)).astype(np.float32), rng.uniform(size=(3, 4)).astype(np.float32))
    assert hasattr(loss, "_twin_exp_neg_abs")
    loss.clear_cache()
    assert not hasattr(loss, "_twin_exp_neg_abs")


def test_a_param_shows_what_it_is_and_zero_grad_then_reads_zeros():
    """On the default path the zero_grad twin makes a Param a LazyZeroParam (its repr says so); reading grad
    after zero_grad gives zeros; copies and pickles are plain Params."""
    import copy
    import pickle

    layer = Dense(3, 2, seed=0)
    layer.W.grad[...] = 5.0
    layer.zero_grad()
    assert repr(layer.W).startswith("LazyZeroParam('W'") and isinstance(layer.W, Param)
    assert not np.any(layer.W.grad)
    assert type(copy.deepcopy(layer).W) is Param and type(pickle.loads(pickle.dumps(layer.W))) is Param
    with kernels.use("reference"):
        other = Dense(3, 2, seed=0)
        other.zero_grad()
        assert type(other.W) is Param  # the teaching switch: the method body, a plain Param
