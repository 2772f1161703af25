"""Stage 2 checks: losses and penalties (see common.LossCheck), each with what finite differences miss."""

from __future__ import annotations

import numpy as np

from tinyae import losses
from tinyae.exercises.checking import as_array, caught_by_checker, compare, fail, show_report
from tinyae.exercises.common import LossCheck, away_from_zero, scalar
from tinyae.gradcheck import check_loss
from tinyae.layers.base import Param

SHAPES = [(4, 7), (1, 5), (3, 2, 5)]  # a batch of one; an image-like input


def parts_mse(MSE, rng):
    Ref = losses.MSE

    cases = [(rng.normal(size=s), rng.normal(size=s)) for s in SHAPES]
    grad = (rng.normal(size=(3, 4)), rng.normal(size=(3, 4)))
    return LossCheck(MSE, lambda: Ref("mean"), cases, grad, ["pred"], "tinyae's MSE('mean')", rng).parts()


def parts_bce(BCE, rng):
    Ref = losses.BCE

    cases = [(rng.uniform(0.02, 0.98, size=s), rng.uniform(0, 1, size=s)) for s in SHAPES]
    grad = (rng.uniform(0.1, 0.9, size=(3, 4)), rng.uniform(0, 1, size=(3, 4)))
    return LossCheck(BCE, lambda: Ref("mean"), cases, grad, ["p"], "tinyae's BCE('mean')", rng).parts()


def parts_bce_logits(BCEWithLogits, rng):
    Ref = losses.BCEWithLogits

    cases = [(rng.normal(scale=4, size=s), rng.uniform(0, 1, size=s)) for s in SHAPES]
    grad = (rng.normal(size=(3, 4)), rng.uniform(0, 1, size=(3, 4)))
    parts = LossCheck(BCEWithLogits, lambda: Ref("mean"), cases, grad, ["z"], "tinyae's BCEWithLogits('mean')",
                      rng).parts()

    def extremes():
        z, t = np.array([[-800.0, 800.0, -800.0, 800.0]]), np.array([[0.0, 1.0, 1.0, 0.0]])
        loss = BCEWithLogits()
        compare("the loss", scalar(loss.forward(z.copy(), t.copy())), 400.0, context="for z = [-800, 800, -800, 800], "
                "t = [0, 1, 1, 0] (the stable form: max(z, 0) - z t + log1p(exp(-|z|)))")
        compare("dz", loss.backward(), np.array([[0.0, 0.0, -0.25, 0.25]]), context="for the same z")
        return "no overflow for logits of +-800 (the stable form)"

    return parts + [("stability", extremes)]


def parts_l1_activity(L1Activity, rng):
    Ref = losses.L1Activity

    lam = float(rng.uniform(0.1, 2.0))
    cases = [(away_from_zero(rng, s),) for s in SHAPES]
    grad = (away_from_zero(rng, (5, 3)),)
    return LossCheck(lambda: L1Activity(lam), lambda: Ref(lam, "batch_mean"), cases, grad, ["h"],
                     f"tinyae's L1Activity(lam={lam:.3g}, 'batch_mean')", rng).parts()


def parts_kl_sparsity(KLSparsity, rng):
    Ref = losses.KLSparsity

    rho, beta = float(rng.uniform(0.03, 0.2)), float(rng.uniform(0.5, 4.0))
    cases = [(rng.uniform(0.01, 0.6, size=s),) for s in [(6, 5), (1, 4), (9, 3)]]
    grad = (rng.uniform(0.05, 0.5, size=(4, 3)),)
    parts = LossCheck(lambda: KLSparsity(rho, beta), lambda: Ref(rho, beta), cases, grad, ["h"],
                      f"tinyae's KLSparsity(rho={rho:.3g}, beta={beta:.3g})", rng).parts()

    def batch_mean():
        # two samples that average to rho exactly: the penalty of their MEAN is 0, each sample's is not
        h = np.array([[rho / 2, 0.5], [3 * rho / 2, 0.5]])
        h[:, 1] = [0.2, 0.8]  # unit 2 averages 0.5
        want = float(Ref(rho, beta).forward(h))
        compare("the loss", scalar(KLSparsity(rho, beta).forward(h.copy())), want,
                context="for a batch whose unit 1 averages exactly rho (its term must be 0: the KL of the batch "
                        "MEAN, not the mean of per-sample KLs)")
        return "the penalty is on the batch mean rho_hat"

    return parts + [("batch mean", batch_mean)]


def parts_l2_weight_decay(L2WeightDecay, rng):
    Ref = losses.L2WeightDecay

    lam = float(rng.uniform(0.01, 1.0))

    def make():
        shapes = [(3, 5), (4,), (2, 3, 2)]
        values = [rng.normal(size=s) for s in shapes]
        data_grads = [rng.normal(size=s) for s in shapes]  # the gradient of the loss, already there
        mine = [Param(v.copy(), f"W{i + 1}") for i, v in enumerate(values)]
        ref = [Param(v.copy(), f"W{i + 1}") for i, v in enumerate(values)]
        for p, q, g in zip(mine, ref, data_grads):
            p.grad = g.copy()
            q.grad = g.copy()
        return mine, ref

    def forward():
        mine, ref = make()
        compare("the penalty", scalar(L2WeightDecay(mine, lam).forward()), float(Ref(ref, lam).forward()))
        return f"the penalty matches tinyae's L2WeightDecay(lam={lam:.3g}) on three Params"

    def backward():
        mine, ref = make()
        penalty = L2WeightDecay(mine, lam)
        penalty.forward()
        out = penalty.backward()
        Ref(ref, lam).backward()
        for p, q in zip(mine, ref):
            compare(f"{p.name}.grad", p.grad, q.grad,
                    context="(it held a data gradient before: lam * W must be ADDED to it)")
        if out is not None:
            fail(f"backward returned a {type(out).__name__}; it adds into the Params' grads and returns None")
        return "lam * W added into every W.grad"

    def finite_differences():
        mine, _ = make()
        report = check_loss(L2WeightDecay(mine, lam))
        caught_by_checker(report)
        if not report.passed:
            fail(show_report(report), report)
        return f"max relative error {report.max_error:.1e} (tinyae.gradcheck.check_loss on the Params)"

    def values_untouched():
        mine, _ = make()
        before = [p.value.copy() for p in mine]
        penalty = L2WeightDecay(mine, lam)
        penalty.forward()
        penalty.backward()
        changed = [p.name for p, v in zip(mine, before) if not np.array_equal(as_array(p.value, p.name), v)]
        if changed:
            fail(f"backward changed the value of {', '.join(changed)}: decaying W is the optimizer's job")
        return "backward leaves the Params' values unchanged"

    return [("forward", forward), ("backward", backward), ("finite differences", finite_differences),
            ("contract", values_untouched)]
