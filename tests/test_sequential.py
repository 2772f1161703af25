"""Sequential: the chain rule over a stack, modes, dtype moves, summary."""

import numpy as np
import pytest

from tinyae.gradcheck import check_layer, check_model
from tinyae.layers import Dense, ReLU, Sigmoid, TiedDense
from tinyae.losses import MSE
from tinyae.models import Sequential


def small_stack(dtype=np.float64):
    return Sequential(Dense(6, 4, init="relu", seed=1, dtype=dtype), ReLU(), Dense(4, 6, seed=2, dtype=dtype),
                      Sigmoid())


def test_stack_gradcheck_and_model_check():
    x = np.random.default_rng(0).normal(size=(3, 6))
    model = small_stack()
    assert check_layer(model, x).passed
    report = check_model(model, MSE(), x)
    assert report.passed, report
    assert [t.name for t in report.tensors] == ["input x", "0.Dense.W", "0.Dense.b", "2.Dense.W", "2.Dense.b"]


def test_tied_param_is_listed_once_and_gets_both_contributions():
    enc = Dense(5, 3, seed=0, dtype=np.float64)
    model = Sequential(enc, Sigmoid(), TiedDense(enc))
    params = list(model.params())
    assert sum(p is enc.W for p in params) == 1
    assert len(params) == 3  # W, encoder b, decoder b
    x = np.random.default_rng(1).normal(size=(2, 5))
    assert check_model(model, MSE(), x).passed


def test_train_eval_mode_is_the_default_for_forward():
    seen = []

    class Spy(Sigmoid):
        def forward(self, x, training=False):
            seen.append(training)
            return super().forward(x, training)

    model = Sequential(Spy())
    x = np.zeros((1, 2), dtype=np.float32)
    model.forward(x)
    model.train().forward(x)
    model.eval().forward(x)
    model.train().forward(x, training=False)
    assert seen == [False, True, False, False]


def test_astype_casts_every_param_and_keeps_ties():
    enc = Dense(4, 2, seed=0)
    model = Sequential(enc, Sigmoid(), TiedDense(enc))
    assert model.dtype == np.float32
    model.astype(np.float64)
    assert all(p.value.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.params())
    assert model[2].W is enc.W
    with pytest.raises(TypeError, match="float32 or float64"):
        model.astype(np.int32)


def test_to_cpu_keeps_values():
    model = small_stack(np.float32)
    before = [p.value.copy() for p in model.params()]
    model.to("cpu")
    for b, p in zip(before, model.params()):
        np.testing.assert_array_equal(b, p.value)


def test_summary_lists_layers_shapes_and_counts():
    text = small_stack(np.float32).summary((6,))
    assert "Dense(6 -> 4)" in text and "(N, 4)" in text and "(N, 6)" in text
    assert "total parameters: 58" in text  # (6*4 + 4) + (4*6 + 6)


def test_only_layers_are_accepted():
    with pytest.raises(TypeError, match="item 1"):
        Sequential(Dense(2, 2), "relu")


def test_shape_error_names_the_layer():
    model = small_stack(np.float32)
    with pytest.raises(ValueError, match=r"Dense\(6 -> 4\).*\(N, 6\).*\(2, 5\)"):
        model.forward(np.zeros((2, 5), dtype=np.float32))
