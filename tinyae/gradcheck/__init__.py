"""Gradient checking: compare a hand-written backward pass with finite differences.

This is the heart of tinyae, and it works on ANY object that follows the layer contract
(``forward(x, training)``, ``backward(dy)`` adding into ``param.grad``, ``params()``), a student's own
layer included:

    >>> import numpy as np
    >>> from tinyae.layers import Dense
    >>> from tinyae.gradcheck import check_layer
    >>> x = np.random.default_rng(0).normal(size=(2, 3))
    >>> report = check_layer(Dense(3, 4, dtype=np.float64), x)
    >>> report.passed
    True

How a check works (docs/gradcheck.md derives each choice):

1. Everything is float64. In float32 the rounding error of a finite difference (~1e-7 / h) swamps
   the quantity being measured.
2. A layer's output y is turned into a scalar with a RANDOM upstream gradient g:  L = sum(y * g),
   so dL/dy = g. With g = ones, every bug that sends the upstream gradient to the wrong place (a
   forgotten transpose or reshape of dy, a max-pool gradient routed to the wrong window entry) is
   invisible: a permuted array of ones is still ones. A random g gives each entry its own weight.
3. Numerical gradient by centered differences. The default is the 4th-order centered stencil

        f'(t) ~ [-f(t+2h) + 8 f(t+h) - 8 f(t-h) + f(t-2h)] / (12 h),  h = 1e-4,

   whose truncation error O(h^4) ~ 1e-16 and rounding error ~ 1e-16 |L| / h ~ 1e-12 are both far
   below the 1e-7 relative tolerance even for gradient entries as small as 1e-4. The textbook
   2-point formula [f(t+h) - f(t-h)] / 2h with h = 1e-6 (``order=2``) has a rounding error near 1e-10,
   which is already 1e-7 of an entry of 1e-3.
4. Relative error per entry with a round-off floor:

        err = |a - n| / max(|a| + |n|, r / tol, 1e-12),   r = w eps max|f(stencil points)| / h

   r estimates the finite difference's own rounding error (w = 1.5, the 5-point stencil's sum of
   |weights| / 12; |f| is sum |y * g| in check_layer where that is larger), so an entry that cancels to
   ~1e-6 is measured against what the stencil resolves, and a difference within r is agreement. Larger
   entries get the plain relative error. The report gives the maximum per tensor and where it happened.
   Every Param is checked, biases included (a random subset of ``max_checks`` entries for large tensors).
5. Kinks (ReLU at 0, max-pool ties, |h| at 0) make finite differences meaningless there: choose
   inputs away from them (at least 2h). Tolerances are never loosened to hide one; a failure at a
   kink is reported as one (the slope jumps within 2h, and backward gives one of the one-sided
   slopes); a smooth function's failure never is.
6. Stochastic layers keep their Generator in ``.rng``; the checker re-seeds it before every forward
   so the same noise is drawn each time.

Beyond finite differences, structural checks catch contract bugs: gradient shapes/dtypes, ``backward``
leaving ``dy`` and the parameter values untouched, ``backward`` twice accumulating exactly twice,
a zero upstream gradient giving zero gradients, and every Param attribute being yielded by
``params()`` (gradcheck/contract.py). Inside a model each layer's backward is watched for
overwriting (``W.grad = ...``) a gradient instead of adding to it, so a tied layer is named.

A failed check is diagnosed (gradcheck/diagnose.py): a constant ratio (2, 1/N, -1), a transpose,
a wrong shape, an all-zero gradient, a flipped kernel, dx vs the parameter lines, kinks, and in a
model the loss term whose gradient the error equals (``model.terms``, or else the variables of a
student's ``loss_and_backward`` that add up to the loss it returns). An exception raised by the checked code is
caught and reported with its file and line (but NotImplementedError, a method not written yet,
propagates). The ``Report`` keeps the evidence for programs too
(gradcheck/report.py documents its API).

The package, one job per module:

    numeric.py    the two building blocks a student can use alone: numerical_gradient, rel_error
    compare.py    walking an object that follows the contract; comparing one tensor's gradients
    check.py      check_layer, check_loss, check_model
    report.py     Report and its parts: the evidence, programmatic access for graders
    diagnose.py   what a failing tensor's numbers point to (a factor, a transpose, a flipped kernel, ...)
    contract.py   the contract checks: forgotten Params, overwritten grads, the student's exception
    file.py       checking a class from a student's file (``tinyae gradcheck FILE.py:Class``)
    cases.py      the built-in cases: every layer, loss and zoo model, as ``tinyae gradcheck`` runs them
"""

from tinyae.gradcheck.check import check_layer, check_loss, check_model, float64_copy
from tinyae.gradcheck.compare import named_params
from tinyae.gradcheck.numeric import DEFAULT_H, DEFAULT_TOL, differences, numerical_gradient, rel_error
from tinyae.gradcheck.report import (
    CaughtException,
    Diagnosis,
    GradcheckError,
    Report,
    StructuralResult,
    TensorResult,
)

__all__ = ["check_layer", "check_loss", "check_model", "float64_copy", "named_params", "numerical_gradient",
           "rel_error", "differences", "DEFAULT_H", "DEFAULT_TOL", "Report", "TensorResult", "StructuralResult",
           "Diagnosis", "GradcheckError", "CaughtException"]
