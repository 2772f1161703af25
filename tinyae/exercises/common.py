"""Parts shared by the exercises whose answer is a layer (stages 1 and 4) or a loss (stage 2).

A layer exercise is checked in four parts, each against tinyae's own implementation of the same
layer on inputs the student never saw (fresh seeds, odd sizes, a batch of one, several channels):

    forward             y equals tinyae's y (the student's Params copied into tinyae's layer)
    backward            dx and every Param's grad equal tinyae's, for a random upstream gradient
    finite differences  tinyae.gradcheck.check_layer on the student's layer (its report, with any
                        diagnosis, is shown when it fails)
    contract            the structural checks of the same report: grads added not assigned, dy and
                        the Params' values left alone, zero in -> zero out
"""

from __future__ import annotations

import numpy as np

from tinyae.exercises.checking import caught_by_checker, compare, compare_all, fail, show_report
from tinyae.gradcheck import check_layer, check_loss

F64 = np.float64


def away_from_zero(rng, shape, margin=0.1, scale=1.0):
    """Normal values at least ``margin`` from 0 (no kink of ReLU / |x| within a finite difference's reach)."""
    u = rng.normal(size=shape) * scale
    return np.sign(u) * (margin + np.abs(u))


def distinct(rng, shape, spacing=0.05):
    """Values without ties (max-pooling is differentiable there): a shuffled evenly spaced grid."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * spacing - n * spacing / 2).reshape(shape)


def _describe(params):
    if not params:
        return "no Params"
    return ", ".join(f"{getattr(p, 'name', '?')} {tuple(np.shape(p.value))}" for p in params)


def student_params(layer):
    """The Params a student's ``params()`` yields, as a list (a one-line failure if it is not iterable)."""
    try:
        return list(layer.params())
    except TypeError:
        fail("params() must return or yield the layer's Params (an iterable), got "
             f"{type(layer.params()).__name__}")


def copy_params(student, reference):
    """Give tinyae's ``reference`` layer the student's Param values (same order, same shapes), or fail."""
    sp, rp = student_params(student), list(reference.params())
    if len(sp) != len(rp) or any(np.shape(a.value) != np.shape(b.value) for a, b in zip(sp, rp)):
        fail(f"params() yields {_describe(sp)}; expected {_describe(rp)}, in this order")
    for a, b in zip(sp, rp):
        b.value[...] = np.asarray(a.value)
    return sp, rp


def zero_grads(params):
    for p in params:
        p.grad = np.zeros_like(p.value)


def shapes_text(xs) -> str:
    return ", ".join(str(tuple(x.shape)) for x in xs)


class LayerCheck:
    """The four parts of a layer exercise.

    build(case) -> the student's layer (float64); reference(case) -> tinyae's layer (float64);
    cases: [(case, x)] for the value parts; grad_case: (case, x) for the gradient check (small, away
    from kinks). ``what`` names tinyae's class in messages.
    """

    def __init__(self, build, reference, cases, grad_case, what, rng, training=False, names=("x", "y", "dx")):
        self.build, self.reference, self.cases, self.grad_case = build, reference, cases, grad_case
        self.what, self.rng, self.training = what, rng, training
        self.x_name, self.y_name, self.dx_name = names  # how the messages call the input, output, input gradient
        self._report = None

    def parts(self):
        return [("forward", self.forward), ("backward", self.backward),
                ("finite differences", self.finite_differences), ("contract", self.contract)]

    def forward(self):
        for case, x in self.cases:
            s, r = self.build(case), self.reference(case)
            copy_params(s, r)
            mine = x.copy()
            y = s.forward(mine, training=self.training)
            if not np.array_equal(mine, x):
                fail(f"forward changed its input {self.x_name} in place ({self.x_name} of shape {x.shape})")
            compare(self.y_name, y, r.forward(x, training=self.training),
                    context=f"for {self.x_name} of shape {x.shape}")
        return f"{self.y_name} matches {self.what} for {self.x_name} of shapes {shapes_text(x for _, x in self.cases)}"

    def backward(self):
        for case, x in self.cases:
            s, r = self.build(case), self.reference(case)
            sp, rp = copy_params(s, r)
            zero_grads(sp)
            zero_grads(rp)
            y_ref = r.forward(x, training=self.training)
            s.forward(x.copy(), training=self.training)
            dy = self.rng.normal(size=y_ref.shape)
            dx = s.backward(dy.copy())
            compare_all([(self.dx_name, dx, r.backward(dy))]
                        + [(f"{a.name}.grad", a.grad, b.grad) for a, b in zip(sp, rp)],
                        context=f"for {self.x_name} of shape {x.shape}")
        grads = "".join(f", {p.name}.grad" for p in student_params(self.build(self.cases[0][0])))
        return f"{self.dx_name}{grads} match{'' if grads else 'es'} tinyae's for the same {self.x_name}"

    def report(self):
        if self._report is None:

            case, x = self.grad_case
            layer = self.build(case)
            student_params(layer)
            self._report = check_layer(layer, x.copy(), training=self.training, seed=int(self.rng.integers(2**31)))
        caught_by_checker(self._report)
        return self._report

    def finite_differences(self):
        report = self.report()
        if not all(t.passed for t in report.tensors):
            fail(show_report(report), report)
        if not report.tensors:
            fail("nothing was checked: backward returned no dx and params() yields no Params")
        names = ", ".join(t.name for t in report.tensors)
        return f"{names}: max relative error {report.max_error:.1e} (tinyae.gradcheck.check_layer)"

    def contract(self):
        report = self.report()
        bad = [s for s in report.structural if not s.passed]
        if bad:
            fail("\n".join(f"{s.name}: {s.detail}" for s in bad), report)
        return "grads added (+=), dy and the Params' values left unchanged"


def scalar(value, what="the loss"):
    """A loss value as a Python float (a 0-d array or a float), or a failed part saying what came back."""
    if value is None:
        fail(f"{what} is None: did forward forget to return it?")
    arr = np.asarray(value)
    if arr.size != 1:
        fail(f"{what} has shape {arr.shape}: a loss is one number (sum, then divide)")
    out = float(arr.reshape(()))
    if not np.isfinite(out):
        fail(f"{what} is {out}: an overflow, a log of 0 or a division by 0?")
    return out


class LossCheck:
    """The parts of a loss exercise: the value and the gradient(s) against tinyae's, finite differences.

    build() -> the student's loss; reference() -> tinyae's; cases: [inputs tuple]; grad_inputs: the
    inputs of the gradient check; wrt: names of the inputs that get a gradient (backward returns one
    array, or a tuple in this order).
    """

    def __init__(self, build, reference, cases, grad_inputs, wrt, what, rng):
        self.build, self.reference, self.cases, self.grad_inputs = build, reference, cases, grad_inputs
        self.wrt, self.what, self.rng = tuple(wrt), what, rng

    def parts(self):
        return [("forward", self.forward), ("backward", self.backward),
                ("finite differences", self.finite_differences)]

    def forward(self):
        for inputs in self.cases:
            mine = tuple(a.copy() for a in inputs)
            value = scalar(self.build().forward(*mine))
            for name, a, b in zip(self.wrt + ("target",) * 3, mine, inputs):
                if not np.array_equal(a, b):
                    fail(f"forward changed its input {name} in place")
            want = float(self.reference().forward(*inputs))
            compare("the loss", value, want, context=f"for inputs of shape {inputs[0].shape}")
        return f"the loss matches {self.what} for inputs of shapes {shapes_text(c[0] for c in self.cases)}"

    def _grads(self, loss, n):
        out = loss.backward()
        if n == 1:
            return (out,)
        if not isinstance(out, (tuple, list)) or len(out) != n:
            fail(f"backward must return {n} gradients ({', '.join('d' + w for w in self.wrt)}), got "
                 f"{type(out).__name__}")
        return tuple(out)

    def backward(self):
        n = len(self.wrt)
        for inputs in self.cases:
            s, r = self.build(), self.reference()
            s.forward(*(a.copy() for a in inputs))
            r.forward(*inputs)
            compare_all([(f"d{w}", g, want) for w, g, want in zip(self.wrt, self._grads(s, n), self._grads(r, n))],
                        context=f"for inputs of shape {inputs[0].shape}")
        grads = ", ".join("d" + w for w in self.wrt)
        return f"{grads} match{'es' if len(self.wrt) == 1 else ''} tinyae's for the same inputs"

    def finite_differences(self):
        scalar(self.build().forward(*(a.copy() for a in self.grad_inputs)))  # one number, or a clear message
        report = check_loss(self.build(), *(a.copy() for a in self.grad_inputs), wrt=self.wrt,
                            seed=int(self.rng.integers(2**31)))
        caught_by_checker(report)
        if not report.passed:
            fail(show_report(report), report)
        names = ", ".join(t.name for t in report.tensors)
        return f"{names}: max relative error {report.max_error:.1e} (tinyae.gradcheck.check_loss)"
