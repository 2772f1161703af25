"""Stage 3 check: the sparse autoencoder's cost and gradient against tinyae's own Autoencoder."""

from __future__ import annotations

import numpy as np

from tinyae.exercises.checking import caught_by_checker, compare, compare_all, fail, show_report
from tinyae.exercises.common import F64, copy_params, scalar, student_params, zero_grads
from tinyae.gradcheck import check_model
from tinyae.layers import Dense, Sigmoid
from tinyae.losses import MSE, KLSparsity
from tinyae.models import Autoencoder, Sequential
from tinyae.optim import Adam


def _reference(nv, nh, lam, rho, beta):
    return Autoencoder(Sequential(Dense(nv, nh, dtype=F64), Sigmoid()), Sequential(Dense(nh, nv, dtype=F64), Sigmoid()),
                       loss=MSE("batch_mean"), penalties=[KLSparsity(rho, beta)], weight_decay=lam)


def parts_sparse_ae(SparseAutoencoder, rng):
    lam, rho, beta = float(rng.uniform(1e-3, 1e-2)), float(rng.uniform(0.05, 0.2)), float(rng.uniform(0.5, 3.0))
    # (visible, hidden, batch): the real 64-25-64, odd sizes, a batch of one
    cases = [(64, 25, 10), (9, 4, 1), (7, 5, 6)]

    def pair(nv, nh):
        s = SparseAutoencoder(nv, nh, lam=lam, rho=rho, beta=beta, seed=int(rng.integers(2**31)), dtype=F64)
        r = _reference(nv, nh, lam, rho, beta)
        sp, rp = copy_params(s, r)
        zero_grads(sp)
        r.zero_grad()
        return s, r, sp, rp

    def what(nv, nh, n):
        return f"for a {nv}-{nh}-{nv} network and a batch of {n}"

    def cost():
        for nv, nh, n in cases:
            s, r, _, _ = pair(nv, nh)
            x = rng.uniform(0, 1, size=(n, nv))
            J = scalar(s.loss_and_backward(x.copy()), "J")
            compare("J", J, float(r.loss_and_backward(x)), context=what(nv, nh, n))
        return (f"J matches tinyae's Autoencoder (MSE batch_mean + KLSparsity(rho={rho:.3g}, beta={beta:.3g}) + "
                f"weight_decay={lam:.3g}) for 64-25-64, 9-4-9 and 7-5-7 networks")

    def gradient():
        for nv, nh, n in cases:
            s, r, sp, rp = pair(nv, nh)
            x = rng.uniform(0, 1, size=(n, nv))
            s.loss_and_backward(x.copy())
            r.loss_and_backward(x)
            compare_all([(f"{a.name}.grad", a.grad, b.grad) for a, b in zip(sp, rp)], context=what(nv, nh, n))
        return f"{', '.join(p.name for p in sp)} grads match tinyae's for the same networks"

    def finite_differences():
        s = SparseAutoencoder(9, 4, lam=lam, rho=rho, beta=beta, seed=int(rng.integers(2**31)), dtype=F64)
        student_params(s)
        report = check_model(s, x=rng.uniform(0, 1, size=(5, 9)), seed=int(rng.integers(2**31)))
        caught_by_checker(report)
        if not report.passed:
            fail(show_report(report), report)
        return (f"every Param of a 9-4-9 network: max relative error {report.max_error:.1e} "
                "(tinyae.gradcheck.check_model)")

    def contract():
        s = SparseAutoencoder(9, 4, lam=lam, rho=rho, beta=beta, seed=int(rng.integers(2**31)), dtype=F64)
        sp = student_params(s)
        zero_grads(sp)
        x = rng.uniform(0, 1, size=(5, 9))
        before = [p.value.copy() for p in sp]
        s.loss_and_backward(x.copy())
        once = [np.array(p.grad, dtype=F64) for p in sp]
        s.loss_and_backward(x.copy())
        for p, g in zip(sp, once):
            compare(f"{p.name}.grad after two calls", p.grad, 2 * g,
                    context="(twice the gradient of one call: grads are ADDED with +=, never assigned)")
        changed = [p.name for p, v in zip(sp, before) if not np.array_equal(p.value, v)]
        if changed:
            fail(f"loss_and_backward changed the value of {', '.join(changed)}: updating is the optimizer's job")
        return "grads added (+=), the Params' values left unchanged"

    def training():
        s = SparseAutoencoder(16, 6, lam=lam, rho=rho, beta=beta, seed=int(rng.integers(2**31)), dtype=F64)
        sp = student_params(s)
        x = rng.uniform(0, 1, size=(40, 16)) ** 2
        opt = Adam(sp, lr=0.02)
        first = None
        for _ in range(60):
            opt.zero_grad()
            J = scalar(s.loss_and_backward(x), "J")
            first = J if first is None else first
            opt.step()
        last = scalar(s.loss_and_backward(x), "J")
        if not last < 0.9 * first:
            fail(f"60 Adam steps with your gradient took J from {first:.4g} to {last:.4g}; it should fall")
        return f"60 Adam steps with your gradient take J from {first:.3g} to {last:.3g}"

    return [("cost", cost), ("gradient", gradient), ("finite differences", finite_differences),
            ("contract", contract), ("training", training)]
