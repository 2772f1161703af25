"""Optimizers: SGD (momentum) and Adam against their closed forms, state saving, in-place updates, bad input."""

import io
import math

import numpy as np
import pytest

from tinyae.layers import Dense, Sigmoid, TiedDense
from tinyae.layers.base import Param
from tinyae.models import Sequential
from tinyae.optim import SGD, Adam, Optimizer


def scalar_param(value=1.0, dtype=np.float64):
    return Param(np.array([value], dtype=dtype), "w")


def run(opt, param, grads):
    """Take one step per gradient; return the value after each step."""
    values = []
    for g in grads:
        param.grad[...] = g
        opt.step()
        values.append(float(param.value[0]))
    return values


# -- SGD ------------------------------------------------------------------------------------------


def test_sgd_plain():
    w = scalar_param(1.0)
    assert run(SGD([w], lr=0.1), w, [0.5, -2.0]) == pytest.approx([1.0 - 0.05, 0.95 + 0.2], rel=1e-15)


def test_sgd_momentum_closed_form():
    lr, mu = 0.1, 0.9
    g1, g2, g3 = 0.5, -1.0, 2.0
    w = scalar_param(1.0)
    values = run(SGD([w], lr=lr, momentum=mu), w, [g1, g2, g3])
    v1 = g1  # v starts at 0: v1 = mu * 0 + g1
    v2 = mu * v1 + g2
    v3 = mu * v2 + g3
    w1 = 1.0 - lr * v1
    w2 = w1 - lr * v2
    w3 = w2 - lr * v3
    assert values == pytest.approx([w1, w2, w3], rel=1e-15)


# -- Adam -----------------------------------------------------------------------------------------


def test_adam_first_three_steps_closed_form():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    g1, g2, g3 = 0.5, -1.0, 2.0
    w = scalar_param(1.0)
    values = run(Adam([w], lr=lr, betas=(b1, b2), eps=eps), w, [g1, g2, g3])

    m1 = (1 - b1) * g1
    v1 = (1 - b2) * g1**2
    w1 = 1.0 - lr * (m1 / (1 - b1)) / (math.sqrt(v1 / (1 - b2)) + eps)
    m2 = b1 * m1 + (1 - b1) * g2
    v2 = b2 * v1 + (1 - b2) * g2**2
    w2 = w1 - lr * (m2 / (1 - b1**2)) / (math.sqrt(v2 / (1 - b2**2)) + eps)
    m3 = b1 * m2 + (1 - b1) * g3
    v3 = b2 * v2 + (1 - b2) * g3**2
    w3 = w2 - lr * (m3 / (1 - b1**3)) / (math.sqrt(v3 / (1 - b2**3)) + eps)
    assert values == pytest.approx([w1, w2, w3], rel=1e-14)
    # the first step of Adam is lr * sign(g), whatever the size of g
    assert w1 == pytest.approx(1.0 - lr, rel=1e-7)


def test_adam_bias_correction_uses_beta_to_the_power_t():
    """With a constant gradient, m_hat = g and v_hat = g^2 at every step, so each step is exactly lr.

    Correcting with (1 - beta) instead of (1 - beta**t) agrees at t = 1 but moves the second step by
    lr * 1.9 / sqrt(1.999) ~ 1.34 lr; no correction at all makes the first step lr * 0.1 / sqrt(0.001) ~ 3.16 lr.
    """
    lr = 0.01
    w = scalar_param(0.0)
    values = run(Adam([w], lr=lr, eps=1e-12), w, [3.0] * 4)
    np.testing.assert_allclose(np.diff([0.0] + values), [-lr] * 4, rtol=1e-9)


def test_adam_decoupled_weight_decay():
    """AdamW: w <- w - lr * wd * w, outside the adaptive step (so a zero gradient still decays w)."""
    lr, wd = 0.1, 0.5
    w = scalar_param(2.0)
    values = run(Adam([w], lr=lr, weight_decay=wd), w, [0.0, 0.0])
    assert values == pytest.approx([2.0 * (1 - lr * wd), 2.0 * (1 - lr * wd) ** 2], rel=1e-15)
    # with a gradient: decay first, then the usual Adam step
    w = scalar_param(2.0)
    (value,) = run(Adam([w], lr=lr, weight_decay=wd, eps=1e-12), w, [4.0])
    assert value == pytest.approx(2.0 * (1 - lr * wd) - lr, rel=1e-12)


def test_adam_on_arrays_matches_elementwise_formula():
    rng = np.random.default_rng(0)
    p = Param(rng.normal(size=(3, 2)), "W")
    start = p.value.copy()
    opt = Adam([p], lr=0.05)
    grads = [rng.normal(size=(3, 2)) for _ in range(3)]
    m = v = np.zeros((3, 2))
    w = start
    for t, g in enumerate(grads, start=1):
        p.grad[...] = g
        opt.step()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 0.05 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(p.value, w, rtol=1e-13)


# -- common behaviour -----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: Adam(ps, lr=0.1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_updates_in_place_and_keep_dtype(make, dtype):
    p = Param(np.ones((2, 3), dtype=dtype), "W")
    value, view = p.value, p.value[0]
    p.grad[...] = 0.5
    opt = make([p])
    opt.step()
    assert p.value is value  # the same array object: views and references see the update
    assert view[0] != 1.0
    assert p.value.dtype == dtype
    for state in opt.state[0].values():
        assert state.dtype == dtype and state.shape == p.shape


def test_params_deduplicated_by_identity_in_order():
    a, b = scalar_param(1.0), scalar_param(2.0)
    opt = SGD([a, b, a], lr=0.1)
    assert opt.params == [a, b]
    enc = Dense(4, 3, seed=0)
    model = Sequential(enc, Sigmoid(), TiedDense(enc))
    opt = Adam(model)  # a model is accepted: all its Params, the tied W once
    assert len(opt.params) == 3 and opt.params[0] is enc.W


def test_tied_param_is_updated_once_with_the_summed_gradient():
    w = scalar_param(1.0)
    opt = SGD([w, w], lr=0.1)
    w.grad[...] = 2.0  # e.g. 0.5 from the encoder + 1.5 from the decoder
    opt.step()
    assert float(w.value[0]) == pytest.approx(0.8, rel=1e-15)


def test_zero_grad_and_step_count():
    a, b = Param(np.ones(3), "W"), Param(np.ones(2), "b")
    opt = Adam([a, b])
    a.grad[...] = 1.0
    b.grad[...] = 2.0
    opt.step()
    opt.step()
    assert opt.t == 2
    opt.zero_grad()
    assert not a.grad.any() and not b.grad.any()


def test_state_follows_a_param_cast_to_float64():
    p = Param(np.ones(2, dtype=np.float32), "W")
    opt = Adam([p])
    p.grad[...] = 1.0
    opt.step()
    p.astype(np.float64)
    p.grad[...] = 1.0
    opt.step()
    assert p.value.dtype == np.float64
    assert all(s.dtype == np.float64 for s in opt.state[0].values())


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.5), lambda ps: Adam(ps, lr=0.1)])
def test_state_dict_round_trip_resumes_exactly(make):
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(2, 2)) for _ in range(4)]
    p = Param(rng.normal(size=(2, 2)), "W")
    opt = make([p])
    for g in grads[:2]:
        p.grad[...] = g
        opt.step()

    state = opt.state_dict()
    assert state["t"] == 2 and isinstance(state["t"], int)
    assert all(isinstance(v, np.ndarray) for k, v in state.items() if k != "t")
    buffer = io.BytesIO()  # what saving does: an .npz of plain arrays
    np.savez(buffer, **state)
    buffer.seek(0)
    loaded = dict(np.load(buffer))

    q = Param(p.value.copy(), "W")
    resumed = make([q])
    resumed.load_state_dict(loaded)
    assert resumed.t == 2
    for g in grads[2:]:
        p.grad[...] = g
        q.grad[...] = g
        opt.step()
        resumed.step()
    np.testing.assert_array_equal(q.value, p.value)


def test_state_dict_keys():
    p, b = Param(np.ones((2, 2)), "W"), Param(np.ones(2), "b")
    opt = Adam([p, b])
    assert opt.state_dict() == {"t": 0}  # state is created lazily, at the first step
    opt.step()
    assert sorted(opt.state_dict()) == ["m.0", "m.1", "t", "v.0", "v.1"]
    sgd = SGD([p], lr=0.1)
    sgd.step()
    assert sgd.state_dict() == {"t": 1}  # plain SGD keeps no buffers


def test_load_state_dict_refuses_a_mismatch():
    opt = Adam([Param(np.ones((2, 2)), "W")])
    with pytest.raises(ValueError, match=r"Adam\.load_state_dict: missing the step count 't'"):
        opt.load_state_dict({})
    with pytest.raises(ValueError, match=r"Adam\.load_state_dict: m\.0 has shape \(3,\), but Param 0 \('W'\) has "
                                         r"shape \(2, 2\)"):
        opt.load_state_dict({"t": 1, "m.0": np.zeros(3)})
    with pytest.raises(ValueError, match=r"Adam\.load_state_dict: unexpected entry 'm\.1' for 1 Params"):
        opt.load_state_dict({"t": 1, "m.1": np.zeros((2, 2))})
    with pytest.raises(ValueError, match=r"Adam\.load_state_dict: unexpected entry 'velocity\.0'"):
        opt.load_state_dict({"t": 1, "velocity.0": np.zeros((2, 2))})


def test_repr_and_config():
    p = scalar_param()
    assert repr(SGD([p], lr=0.1, momentum=0.9)) == "SGD(1 Params, lr=0.1, momentum=0.9)"
    assert Adam([p]).config() == {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0}


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda p: SGD(p, lr=0), r"SGD: lr must be a finite number in \(0\.0, inf\), got 0"),
        (lambda p: SGD(p, lr=-0.1), r"SGD: lr must be a finite number"),
        (lambda p: SGD(p, lr=float("nan")), r"SGD: lr must be a finite number"),
        (lambda p: SGD(p, lr="0.1"), r"SGD: lr must be a finite number"),
        (lambda p: SGD(p, lr=0.1, momentum=1.0), r"SGD: momentum must be a finite number in \[0\.0, 1\.0\), got 1\.0"),
        (lambda p: SGD(p, lr=0.1, momentum=-0.5), r"SGD: momentum must be a finite number"),
        (lambda p: Adam(p, lr=0), r"Adam: lr must be a finite number in \(0\.0, inf\)"),
        (lambda p: Adam(p, betas=(1.0, 0.999)), r"Adam: beta1 must be a finite number in \[0\.0, 1\.0\), got 1\.0"),
        (lambda p: Adam(p, betas=(0.9, -0.1)), r"Adam: beta2 must be a finite number in \[0\.0, 1\.0\)"),
        (lambda p: Adam(p, betas=(0.9,)), r"Adam: betas must be a pair \(beta1, beta2\), got \(0\.9,\)"),
        (lambda p: Adam(p, eps=0.0), r"Adam: eps must be a finite number in \(0\.0, inf\)"),
        (lambda p: Adam(p, weight_decay=-1e-4), r"Adam: weight_decay must be a finite number in \[0\.0, inf\)"),
        (lambda p: Adam([]), r"Adam: got no Params to optimize"),
    ],
)
def test_bad_hyperparameters(build, match):
    with pytest.raises(ValueError, match=match):
        build([scalar_param()])


def test_refuses_non_params():
    with pytest.raises(TypeError, match=r"SGD: expected Params \(e\.g\. model\.params\(\)\), got a ndarray"):
        SGD([np.zeros(3)], lr=0.1)


def test_base_class_needs_an_update_rule():
    opt = Optimizer([scalar_param()], lr=0.1)
    with pytest.raises(NotImplementedError, match="Optimizer._update is not implemented"):
        opt.step()


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1), lambda ps: Adam(ps)])
def test_a_grad_of_the_wrong_shape_is_refused_before_any_update(make):
    p = Param(np.ones((4, 4), dtype=np.float32), "W")
    p.grad = np.ones(4, dtype=np.float32)  # NumPy would broadcast it over the rows; a compiled loop would misread it
    opt = make([p])
    with pytest.raises(ValueError, match=r"step: Param 'W' has a grad of shape \(4,\) for a value of shape \(4, 4\)"):
        opt.step()
    assert opt.t == 0 and np.all(p.value == 1)


def test_hyperparameters_may_be_numpy_scalars_and_stay_python_floats():
    """One validator (layers.base.check_number) for every hyperparameter: a NumPy scalar (from a grid, say)
    is taken, stored as a Python float (no float64 scalar to up-cast float32 arithmetic), a bool refused."""
    import numpy as np
    import pytest

    from tinyae.layers import Param
    from tinyae.optim import Adam

    opt = Adam([Param(np.zeros(3, dtype=np.float32), "w")], lr=np.float32(0.01), betas=(np.float64(0.9), 0.999))
    assert type(opt.lr) is float and type(opt.betas[0]) is float
    with pytest.raises(ValueError, match=r"^Adam: lr must be a finite number in \(0.0, inf\), got True$"):
        Adam([Param(np.zeros(3), "w")], lr=True)
