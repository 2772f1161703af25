"""The checker tells a student WHAT is wrong: planted bugs -> the diagnosis each must produce.

Every bug below is a student's own layer, loss or model with one classic mistake. The table gives the
diagnosis code the report must contain and a phrase its message must say; correct code (every
built-in layer, loss and zoo model) must get no diagnosis at all. The crash and the two false PASSes
of issue 12 must come back as failed reports that name the problem.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import test_gradcheck  # the correct student Dense and MSE (and the MSE that forgets 1/N) live there

from tinyae.gradcheck import check_layer, check_loss, check_model
from tinyae.layers import Dense, MaxPool2D, Sigmoid
from tinyae.layers.base import Layer, Param
from tinyae.losses import MSE
from tinyae.models import Autoencoder, Sequential

# --------------------------------------------------------------------------------------------------
# A correct student layer, loss, activation and convolution, and one subclass per planted bug
# --------------------------------------------------------------------------------------------------


class StudentDense(test_gradcheck.StudentDense):
    """tests/test_gradcheck.py's correct student Dense, y = x @ W + b, with default sizes (4 -> 3)."""

    def __init__(self, d_in=4, d_out=3, seed=0):
        super().__init__(d_in, d_out, seed)


class DoubleDW(StudentDense):
    def backward(self, dy):
        self.W.grad += 2 * self.x.T @ dy
        self.b.grad += dy.sum(axis=0)
        return dy @ self.W.value.T


class MeanTwiceDW(StudentDense):
    def backward(self, dy):
        self.W.grad += self.x.T @ dy / self.x.shape[0]
        self.b.grad += dy.sum(axis=0)
        return dy @ self.W.value.T


class TransposedDW(StudentDense):  # square W: the shapes cannot tell
    def backward(self, dy):
        self.W.grad += dy.T @ self.x
        self.b.grad += dy.sum(axis=0)
        return dy @ self.W.value.T


class WrongShapeDW(StudentDense):  # W (4, 3): dy.T @ x is (3, 4)
    def backward(self, dy):
        self.W.grad = dy.T @ self.x
        self.b.grad += dy.sum(axis=0)
        return dy @ self.W.value.T


class DxTransposed(StudentDense):
    def backward(self, dy):
        self.W.grad += self.x.T @ dy
        self.b.grad += dy.sum(axis=0)
        return (dy @ self.W.value.T).T  # (D, N): dx must have the input's shape (N, D)


class NoBiasGrad(StudentDense):
    def backward(self, dy):
        self.W.grad += self.x.T @ dy
        return dy @ self.W.value.T


class SignFlippedDx(StudentDense):
    def backward(self, dy):
        self.W.grad += self.x.T @ dy
        self.b.grad += dy.sum(axis=0)
        return -dy @ self.W.value.T


class DxWithoutTranspose(StudentDense):  # square W
    def backward(self, dy):
        self.W.grad += self.x.T @ dy
        self.b.grad += dy.sum(axis=0)
        return dy @ self.W.value


class ForgotParams(StudentDense):
    """The base Layer.params() yields nothing; dW is 7x wrong and db never written."""

    def params(self):
        return iter(())

    def backward(self, dy):
        self.W.grad += 7 * self.x.T @ dy
        return dy @ self.W.value.T


class RaisesInBackward(StudentDense):
    def backward(self, dy):
        self.W.grad += self.x.T @ dy
        return dy @ self.W.value  # (N, M) @ (D, M): the shapes do not fit


class StudentSigmoid(Layer):
    def forward(self, x, training=False):
        self.y = 1 / (1 + np.exp(-x))
        self.x = x
        return self.y

    def backward(self, dy):
        return dy * self.y * (1 - self.y)


class SigmoidFromInput(StudentSigmoid):
    def backward(self, dy):
        return dy * self.x * (1 - self.x)  # the input where the output belongs


class TanhPlusSquare(Layer):
    """tanh with the derivative's sign wrong: 1 + y^2 instead of 1 - y^2 (smooth, no kink anywhere)."""

    def forward(self, x, training=False):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy):
        return dy * (1 + self.y**2)


class StudentReLU(Layer):
    def forward(self, x, training=False):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dy):
        return dy * (self.x > 0)


class StudentConv(Layer):
    """A 'valid' correlation y[n, o] = sum_c x[n, c] (*) W[o, c] + b[o], stride 1, written with loops."""

    def __init__(self, c_in=2, c_out=3, k=3, seed=0):
        rng = np.random.default_rng(seed)
        self.W = Param(rng.normal(size=(c_out, c_in, k, k)), "W")
        self.b = Param(rng.normal(size=(c_out,)), "b")

    def params(self):
        yield self.W
        yield self.b

    def forward(self, x, training=False):
        self.x = x
        k = self.W.shape[2]
        n, c, hh, ww = x.shape
        y = np.zeros((n, self.W.shape[0], hh - k + 1, ww - k + 1))
        for u in range(k):
            for v in range(k):
                patch = x[:, :, u:u + y.shape[2], v:v + y.shape[3]]  # (N, C, OH, OW)
                y += np.einsum("nchw,oc->nohw", patch, self.W.value[:, :, u, v])
        return y + self.b.value[None, :, None, None]

    def backward(self, dy):
        k = self.W.shape[2]
        dx = np.zeros_like(self.x)
        for u in range(k):
            for v in range(k):
                patch = self.x[:, :, u:u + dy.shape[2], v:v + dy.shape[3]]
                self.W.grad[:, :, u, v] += np.einsum("nohw,nchw->oc", dy, patch)
                dx[:, :, u:u + dy.shape[2], v:v + dy.shape[3]] += self.dx_term(dy, u, v)
        self.b.grad += dy.sum(axis=(0, 2, 3))
        return dx

    def dx_term(self, dy, u, v):
        return np.einsum("nohw,oc->nchw", dy, self.W.value[:, :, u, v])


class ConvUnflippedDx(StudentConv):
    """dx as a full correlation of the padded dy with the kernel NOT rotated (the classic mistake)."""

    def backward(self, dy):
        k = self.W.shape[2]
        dx = super().backward(dy)  # dW and db right; the dx is thrown away
        h, w = dx.shape[2:]
        dy_pad = np.pad(dy, ((0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1)))
        return sum(np.einsum("nohw,oc->nchw", dy_pad[:, :, u:u + h, v:v + w], self.W.value[:, :, u, v])
                   for u in range(k) for v in range(k))


class ConvFlippedDW(StudentConv):
    def backward(self, dy):
        dx = super().backward(dy)
        self.W.grad[...] = self.W.grad[..., ::-1, ::-1].copy()  # a correlation where a convolution belongs
        return dx


StudentMSE, MSEForgotBatch = test_gradcheck.StudentMSE, test_gradcheck.ForgotBatchMSE


class StudentKL:
    """KL sparsity of a sigmoid code h (N, U): beta * sum_j KL(rho || mean_n h[n, j])."""

    name = "kl_sparsity"

    def __init__(self, rho=0.1, beta=3.0, divide=True):
        self.rho, self.beta, self.divide = rho, beta, divide

    def forward(self, h):
        self.h = h
        r = h.mean(axis=0)
        return self.beta * np.sum(self.rho * np.log(self.rho / r) + (1 - self.rho) * np.log((1 - self.rho) / (1 - r)))

    def backward(self):
        r = self.h.mean(axis=0)
        dr = self.beta * (-self.rho / r + (1 - self.rho) / (1 - r))
        m = self.h.shape[0] if self.divide else 1  # the bug: divide=False forgets the 1/m of the mean
        return np.broadcast_to(dr / m, self.h.shape).copy()


class StudentTied(Layer):
    """A decoder tied to an encoder Dense: y = x @ W.T + b."""

    def __init__(self, encoder, overwrite=False):
        self.W = encoder.W
        self.b = Param(np.zeros(encoder.W.shape[0]), "b")
        self.overwrite = overwrite

    def params(self):
        yield self.W
        yield self.b

    def forward(self, x, training=False):
        self.x = x
        return x @ self.W.value.T + self.b.value

    def backward(self, dy):
        if self.overwrite:
            self.W.grad = dy.T @ self.x  # the bug: '=' loses the encoder's share of a shared W
        else:
            self.W.grad += dy.T @ self.x
        self.b.grad += dy.sum(axis=0)
        return dy @ self.W.value


class StudentSparseAE:
    """UFLDL's sparse autoencoder written by hand, as a student does (no tinyae layers):
    J = sum ||a2 - x||^2 / N + lam/2 sum W^2 + beta sum_j KL(rho || mean_n a1[n, j]). It keeps its three
    terms in ``self.terms``, as tinyae's own models do: that is what lets check_model name the term whose
    gradient a wrong tensor's error equals."""

    def __init__(self, divide=True, nv=5, nh=4, lam=1e-2, rho=0.1, beta=2.0):
        rng = np.random.default_rng(4)
        self.W1, self.b1 = Param(rng.normal(scale=0.5, size=(nv, nh)), "W1"), Param(rng.normal(size=nh), "b1")
        self.W2, self.b2 = Param(rng.normal(scale=0.5, size=(nh, nv)), "W2"), Param(rng.normal(size=nv), "b2")
        self.lam, self.rho, self.beta, self.divide = lam, rho, beta, divide

    def params(self):
        return iter([self.W1, self.b1, self.W2, self.b2])

    def loss_and_backward(self, x, target=None, training=True):
        W1, W2, lam, rho, beta, N = self.W1.value, self.W2.value, self.lam, self.rho, self.beta, x.shape[0]
        a1 = 1 / (1 + np.exp(-(x @ W1 + self.b1.value)))
        a2 = 1 / (1 + np.exp(-(a1 @ W2 + self.b2.value)))
        rho_hat = a1.mean(axis=0)
        reconstruction = np.sum((a2 - x) ** 2) / N
        decay = 0.5 * lam * (np.sum(W1 * W1) + np.sum(W2 * W2))
        sparsity = beta * np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
        d2 = 2 * (a2 - x) / N * a2 * (1 - a2)
        self.W2.grad += a1.T @ d2 + lam * W2
        self.b2.grad += d2.sum(axis=0)
        dkl = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
        d1 = (d2 @ W2.T + (dkl / N if self.divide else dkl)) * a1 * (1 - a1)  # the bug: divide=False
        self.W1.grad += x.T @ d1 + lam * W1
        self.b1.grad += d1.sum(axis=0)
        self.terms = {"reconstruction": reconstruction, "weight_decay": decay, "sparsity": sparsity}
        return reconstruction + decay + sparsity


def rng_input(shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape)


def unit_input(shape, seed=1):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=shape)


def pool_tie():
    x = rng_input((1, 1, 4, 4))
    x[0, 0, :2, :2] = [[2.0, 2.0], [0.1, 0.2]]  # two equal maxima in the first window
    return x


def tied_stack(overwrite):
    enc = Dense(4, 3, dtype=np.float64, seed=0)
    return Sequential(enc, Sigmoid(), StudentTied(enc, overwrite=overwrite))


def sparse_ae(divide):
    rng = np.random.default_rng(5)
    enc = Sequential(Dense(5, 4, dtype=np.float64, seed=2), Sigmoid())
    dec = Sequential(Dense(4, 5, dtype=np.float64, seed=3))
    for p in [*enc.params(), *dec.params()]:
        p.value[...] = rng.normal(scale=0.5, size=p.shape)
    return Autoencoder(enc, dec, loss=MSE(), penalties=[StudentKL(divide=divide)])


# (id, run the check -> Report, the diagnosis code that must appear, a phrase its message must contain)
PLANTED = [
    ("dW = 2 * x.T @ dy", lambda: check_layer(DoubleDW(), rng_input((4, 4))), "ratio", "2.00 x the true one"),
    ("dW = x.T @ dy / N", lambda: check_layer(MeanTwiceDW(), rng_input((4, 4))), "ratio", "0.25 = 1/4"),
    ("dW = dy.T @ x on a square W", lambda: check_layer(TransposedDW(4, 4), rng_input((3, 4))), "transpose",
     "transpose of your gradient"),
    ("W.grad = dy.T @ x (wrong shape)", lambda: check_layer(WrongShapeDW(), rng_input((5, 4))), "wrong_shape",
     "has shape (3, 4), but W has shape (4, 3)"),
    ("dx returned transposed (wrong shape)", lambda: check_layer(DxTransposed(), rng_input((5, 4))), "wrong_shape",
     "input x: your gradient has shape (4, 5), but input x has shape (5, 4)"),
    ("bias gradient never written", lambda: check_layer(NoBiasGrad(), rng_input((5, 4))), "zeros",
     "nothing was ever added into b.grad"),
    ("dx with the sign flipped", lambda: check_layer(SignFlippedDx(), rng_input((5, 4))), "sign", "sign is flipped"),
    ("dx = dy @ W on a square W", lambda: check_layer(DxWithoutTranspose(4, 4), rng_input((3, 4))), "dx_uses_param",
     "replaced by W.T"),
    ("only dx is wrong", lambda: check_layer(DxWithoutTranspose(4, 4), rng_input((3, 4))), "only_dx",
     "bug is in the dx your backward returns"),
    ("only the bias is wrong", lambda: check_layer(NoBiasGrad(), rng_input((5, 4))), "only_param",
     "adds into b.grad"),
    ("sigmoid backward from the input", lambda: check_layer(SigmoidFromInput(), rng_input((3, 5))),
     "input_for_output", "OUTPUT"),
    ("conv dx with the kernel not flipped", lambda: check_layer(ConvUnflippedDx(), rng_input((2, 2, 5, 5))),
     "flipped_kernel", "rotated 180 degrees"),
    ("conv dW flipped", lambda: check_layer(ConvFlippedDW(), rng_input((2, 2, 5, 5))), "flipped_kernel",
     "rotated 180 degrees"),
    ("loss forgets the 1/N of its batch mean", lambda: check_loss(MSEForgotBatch(), rng_input((4, 3)),
                                                                   rng_input((4, 3), 2)),
     "ratio", "4 is the batch size N"),
    ("KL sparsity without the 1/m", lambda: check_loss(StudentKL(divide=False), unit_input((6, 4))), "ratio",
     "6 is the batch size N"),
    ("KL sparsity without the 1/m, in a sparse AE", lambda: check_model(sparse_ae(False), x=unit_input((6, 5))),
     "term", "'kl_sparsity'"),
    ("KL sparsity without the 1/m, in a student's own whole network", lambda: check_model(
        StudentSparseAE(divide=False), x=unit_input((6, 5))), "term", "the gradient of the loss term 'sparsity'"),
    ("... the term's 1/m named", lambda: check_model(StudentSparseAE(divide=False), x=unit_input((6, 5))), "term",
     "6 is the batch size N: is its 1/6 missing?"),
    ("ReLU checked at its kink", lambda: check_layer(StudentReLU(), np.array([[0.0, 1.0, -2.0, 0.5]])), "kink",
     "not a bug in your code"),
    ("max-pool checked at a tie", lambda: check_layer(MaxPool2D(2), pool_tie()), "kink", "each sits next to a kink"),
    ("ReLU checked within 2h of its kink", lambda: check_layer(StudentReLU(), np.array([[3e-5, 1.0, -2.0]])), "kink",
     "the stencil's steps reach across a bend"),
    ("a layer that forgets params()", lambda: check_layer(ForgotParams(), rng_input((5, 4))), "not_in_params",
     "params() does not yield"),
    ("... and its 7x wrong dW", lambda: check_layer(ForgotParams(), rng_input((5, 4))), "ratio",
     "7.00 x the true one"),
    ("a tied decoder that overwrites W.grad", lambda: check_model(tied_stack(True), MSE(), unit_input((5, 4))),
     "overwrites", "2.StudentTied overwrites the gradient of W"),
    ("an exception in backward", lambda: check_layer(RaisesInBackward(), rng_input((5, 4))), "exception",
     "test_gradcheck_diagnosis.py, line"),
]


@pytest.mark.parametrize(("run", "code", "phrase"), [p[1:] for p in PLANTED], ids=[p[0] for p in PLANTED])
def test_planted_bug_gets_its_diagnosis(run, code, phrase):
    report = run()
    assert not report.passed, report
    found = [d for d in report.diagnoses if d.code == code]
    assert found, f"no {code!r} diagnosis in:\n{report}"
    assert any(phrase in d.message for d in found), f"{phrase!r} not in {[d.message for d in found]}"
    assert phrase in str(report)  # the student sees it in the printed report
    json.dumps(report.to_dict())  # and a grader gets it as JSON


def test_the_correct_student_code_passes_without_a_hint():
    for report in (check_layer(StudentDense(), rng_input((5, 4))), check_layer(StudentSigmoid(), rng_input((3, 5))),
                   check_layer(StudentConv(), rng_input((2, 2, 5, 5))), check_loss(StudentKL(), unit_input((6, 4))),
                   check_loss(StudentMSE(), rng_input((4, 3)), rng_input((4, 3), 2)),
                   check_model(sparse_ae(True), x=unit_input((6, 5))),
                   check_model(StudentSparseAE(), x=unit_input((6, 5))),
                   check_model(tied_stack(False), MSE(), unit_input((5, 4)))):
        assert report.passed, report
        assert report.diagnoses == [] and "Diagnosis" not in str(report)


# --------------------------------------------------------------------------------------------------
# Issue 12's crash and false PASSes
# --------------------------------------------------------------------------------------------------


def test_a_wrong_shaped_gradient_is_reported_not_a_crash():
    report = check_layer(WrongShapeDW(), rng_input((5, 4)))
    w = report.tensor("W")
    assert not report.passed and w.wrong_shape and w.checked == 0
    assert [d.code for d in w.diagnoses] == ["wrong_shape", "transpose"]
    assert "W: your gradient has shape (3, 4)" in report.failures()[0] or any(
        "the gradient has shape (3, 4)" in line for line in report.failures())


def test_a_forgotten_params_is_no_longer_a_pass():
    report = check_layer(ForgotParams(), rng_input((5, 4)))
    assert not report.passed
    assert {"W", "b"} <= {t.name for t in report.tensors}  # checked anyway
    assert [d.code for d in report.tensor("b").diagnoses] == ["zeros"]
    assert any("every Param attribute is yielded by params()" in line for line in report.failures())


def test_a_tied_decoder_that_overwrites_fails_and_is_named():
    report = check_model(tied_stack(True), MSE(), unit_input((5, 4)))
    assert not report.passed
    overwrites = [d for d in report.diagnoses if d.code == "overwrites"]
    assert [d.tensor for d in overwrites] == ["2.StudentTied"]
    assert "shared with 0.Dense" in overwrites[0].message
    layer_report = check_layer(tied_stack(True), unit_input((5, 4)))
    assert [d.tensor for d in layer_report.diagnoses if d.code == "overwrites"] == ["2.StudentTied"]


def test_an_exception_is_caught_with_the_students_file_and_line():
    report = check_layer(RaisesInBackward(), rng_input((5, 4)))
    assert not report.passed and report.exception is not None
    exc = report.exception
    assert exc.type == "ValueError" and exc.during == "backward"
    assert exc.file.endswith("test_gradcheck_diagnosis.py")
    assert exc.code == "return dy @ self.W.value  # (N, M) @ (D, M): the shapes do not fit"


def test_a_nan_gradient_fails_as_the_worst_error():
    class NaNGrad(StudentDense):
        def backward(self, dy):
            dx = super().backward(dy)
            self.b.grad[0] = np.nan
            return dx

    report = check_layer(NaNGrad(), rng_input((5, 4)))
    b = report.tensor("b")
    assert not report.passed and not b.passed and b.max_error == 1.0 and b.where == (0,)


def test_kinks_are_named_only_where_they_are():
    report = check_layer(StudentReLU(), np.array([[0.0, 1.0, -2.0, 0.5]]))
    x = report.tensor("input x")
    assert x.kinks == [(0, 0)] and x.n_failed == 1


def test_a_smooth_wrong_derivative_is_not_called_a_kink():
    # Near x = 0 the wrong 1 + y^2 is within 1e-4 of the true slope 1 - y^2 (so it equals the one-sided slopes
    # to their precision), but tanh's slope does not jump there: a bug, not a kink.
    report = check_layer(TanhPlusSquare(), np.array([[2e-3, -3e-3, 0.8, -1.5]]))
    x = report.tensor("input x")
    assert not report.passed and x.n_failed == 4, report
    assert x.kinks == [] and "kink" not in [d.code for d in report.diagnoses], report


def test_a_wrong_derivative_next_to_a_real_kink_is_not_excused_by_it():
    class ReLUHalfSlope(StudentReLU):
        def backward(self, dy):
            return dy * (self.x > 0) * 0.5

    x = check_layer(ReLUHalfSlope(), np.array([[0.0, 1.0, -2.0, 0.5]])).tensor("input x")
    assert x.kinks == [] or set(x.kinks) == {(0, 0)}  # at most the entry at the kink ...
    assert x.n_failed - len(x.kinks) == 2  # ... the two positive entries fail as a bug


# --------------------------------------------------------------------------------------------------
# The evidence a report keeps, for people and for programs
# --------------------------------------------------------------------------------------------------


def test_a_tensor_failing_just_above_the_tolerance_names_its_worst_entry():
    class SlightlyOffDx(StudentDense):
        def backward(self, dy):
            dx = super().backward(dy)
            dx[0, 0] *= 1 + 2e-7  # relative errors ~1e-7 and ~2e-7: equal to 6 decimals, not to 6 digits
            dx[1, 2] *= 1 + 4e-7
            return dx

    x = check_layer(SlightlyOffDx(), rng_input((3, 4))).tensor("input x")
    assert not x.passed and x.n_failed == 1 and x.where == (1, 2), x.summary()
    assert x.worst(1)[0][0] == (1, 2)


def test_report_keeps_the_evidence():
    report = check_layer(DoubleDW(), rng_input((4, 4)))
    w = report.tensor("W")
    assert w.n_failed == w.checked == 12
    np.testing.assert_allclose(w.analytic_values, 2 * w.numeric_values, rtol=1e-8)
    np.testing.assert_allclose(w.analytic_array(), 2 * w.numeric_array(), rtol=1e-8)
    worst = w.worst(3)
    assert len(worst) == 3 and worst[0][3] == pytest.approx(w.max_error, abs=1e-6) and worst[0][0] == w.where
    text = str(report)
    assert "W: 12 of 12 entries fail" in text and "finite diff" in text
    data = report.to_dict()
    assert data["passed"] is False and data["tensors"][1]["failed"] == 12
    assert data["diagnoses"][0]["code"] == "ratio" and data["diagnoses"][0]["value"] == pytest.approx(2.0)


@pytest.mark.parametrize("name", ["ae", "ae-logits", "stacked", "stacked-sigmoid", "sparse-l1", "sparse-kl",
                                  "denoising-masking", "denoising-gaussian", "tied", "vae", "vae-mse-beta", "conv",
                                  "conv-transpose", "conv-vae"])
def test_every_zoo_model_passes_without_a_hint(name):
    from tinyae.gradcheck.cases import check_tiny_model, tiny_models

    assert name in tiny_models()
    report = check_tiny_model(name)
    assert report.passed, report
    assert report.diagnoses == [], report.hints


def test_the_zoo_list_above_is_complete():
    from tinyae.gradcheck.cases import tiny_models

    listed = test_every_zoo_model_passes_without_a_hint.pytestmark[0].args[1]
    assert sorted(listed) == sorted(tiny_models())


def test_a_method_not_written_yet_is_not_caught():
    """NotImplementedError means 'not written yet' (a blank): there is nothing to check, so it propagates."""

    class OnlyForward(Layer):
        def forward(self, x, training=False):
            return 2 * x

    with pytest.raises(NotImplementedError, match="backward is not implemented"):
        check_layer(OnlyForward(), rng_input((2, 3)))
