"""Stage 5 checks: the reparameterisation step, the Gaussian KL, one VAE training step."""

from __future__ import annotations

import copy

import numpy as np

from tinyae.exercises.checking import as_array, caught_by_checker, compare, compare_all, fail, show_report
from tinyae.exercises.common import F64, LayerCheck, LossCheck, scalar, zero_grads
from tinyae.gradcheck import check_model
from tinyae.layers import Dense, Tanh
from tinyae.layers.base import Layer
from tinyae.losses import GaussianKL as Ref
from tinyae.models import VAE, Sequential
from tinyae.optim import Adam


def parts_reparam(reparameterize, reparameterize_backward, rng):
    class Step(Layer):
        """The reparameterisation as a layer on [mu, logvar] (N, 2L) with a fixed eps, for the shared parts."""

        def __init__(self, fns, eps):
            self.fns, self.eps = fns, eps

        def __repr__(self):
            return "reparameterize"

        def forward(self, x, training=False):
            L = self.eps.shape[1]
            self.mu, self.logvar = x[:, :L], x[:, L:]
            return self.fns[0](self.mu, self.logvar, self.eps)

        def backward(self, dy):
            out = self.fns[1](dy, self.mu, self.logvar, self.eps)
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                fail(f"reparameterize_backward must return (dmu, dlogvar), got {type(out).__name__}")
            return np.concatenate([as_array(out[0], "dmu"), as_array(out[1], "dlogvar")], axis=1)

    def reference_fns():  # the lines of tinyae's VAE.loss_and_backward
        def forward(mu, logvar, eps):
            return mu + np.exp(0.5 * logvar) * eps

        def backward(dz, mu, logvar, eps):
            return dz, dz * eps * (0.5 * np.exp(0.5 * logvar))

        return forward, backward

    shapes = [(5, 3), (1, 2), (4, 7)]  # (N, L)
    eps_of = {s: rng.normal(size=s) for s in shapes}
    cases = [(s, rng.normal(size=(s[0], 2 * s[1]))) for s in shapes]
    grad_shape = (3, 2)
    eps_of[grad_shape] = rng.normal(size=grad_shape)
    grad_case = (grad_shape, rng.normal(size=(3, 4)))
    parts = LayerCheck(lambda s: Step((reparameterize, reparameterize_backward), eps_of[s]),
                       lambda s: Step(reference_fns(), eps_of[s]), cases, grad_case,
                       "mu + exp(0.5 logvar) eps (the line of tinyae's VAE)", rng,
                       names=("[mu, logvar]", "z", "[dmu, dlogvar]")).parts()

    def spread():
        mu, logvar = np.array([[0.5, -1.0, 0.0]]), np.array([[0.0, 1.0, -2.0]])
        eps = rng.standard_normal((20000, 3))
        z = as_array(reparameterize(np.repeat(mu, 20000, 0), np.repeat(logvar, 20000, 0), eps), "z")
        var, want = z.var(axis=0), np.exp(logvar[0])
        if not np.allclose(var, want, rtol=0.1):
            fail(f"over 20000 draws of eps, z has variance {np.round(var, 3).tolist()}; a Gaussian with logvar "
                 f"{logvar[0].tolist()} has variance exp(logvar) = {np.round(want, 3).tolist()}. sigma is "
                 f"exp(0.5 * logvar), the STANDARD DEVIATION (exp(logvar) is the variance)")
        return "the variance of z over 20000 draws of eps is exp(logvar)"

    return [p for p in parts if p[0] != "contract"] + [("spread", spread)]


def parts_gaussian_kl(GaussianKL, rng):
    shapes = [(5, 3), (1, 2), (6, 4)]
    cases = [(rng.normal(size=s), rng.normal(scale=0.7, size=s)) for s in shapes]
    grad = (rng.normal(size=(3, 2)), rng.normal(scale=0.5, size=(3, 2)))
    parts = LossCheck(GaussianKL, lambda: Ref("batch_mean"), cases, grad, ["mu", "logvar"],
                      "tinyae's GaussianKL('batch_mean')", rng).parts()

    def prior():
        kl = GaussianKL()
        zeros = np.zeros((4, 3))
        value = scalar(kl.forward(zeros.copy(), zeros.copy()), "the KL")
        compare("the KL", value, 0.0, context="at mu = 0, logvar = 0")
        out = kl.backward()
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            fail(f"backward must return (dmu, dlogvar), got {type(out).__name__}")
        compare("dmu", out[0], zeros, context="at the prior")
        compare("dlogvar", out[1], zeros, context="at the prior")
        return "the KL and both gradients are 0 at the prior"

    return parts + [("the prior", prior)]


def _vae_parts(nx, L, hidden, rng):
    seed = int(rng.integers(2**31))
    encoder = Sequential(Dense(nx, hidden, dtype=F64, seed=seed), Tanh(),
                         Dense(hidden, 2 * L, dtype=F64, seed=seed + 1))
    decoder = Sequential(Dense(L, hidden, dtype=F64, seed=seed + 2), Tanh(),
                         Dense(hidden, nx, dtype=F64, seed=seed + 3))
    return encoder, decoder


def parts_vae_step(vae_loss_and_backward, rng):
    beta = float(rng.uniform(0.5, 2.0))
    cases = [(7, 2, 5, 6), (5, 3, 4, 1), (9, 1, 6, 4)]  # (D, L, hidden, N)

    def setup(D, L, hidden, N):
        encoder, decoder = _vae_parts(D, L, hidden, rng)
        ref = VAE(copy.deepcopy(encoder), copy.deepcopy(decoder), latent_dim=L, recon="bce_with_logits", beta=beta)
        x, eps = rng.uniform(0, 1, size=(N, D)), rng.normal(size=(N, L))
        return encoder, decoder, ref, x, eps

    def what(D, L, N):
        return f"for x ({N}, {D}), L = {L}, beta = {beta:.3g}"

    def loss():
        for D, L, hidden, N in cases:
            encoder, decoder, ref, x, eps = setup(D, L, hidden, N)
            value = scalar(vae_loss_and_backward(encoder, decoder, x.copy(), eps.copy(), beta), "the loss")
            compare("the loss", value, float(ref.loss_and_backward(x, eps=eps)), context=what(D, L, N))
        return "the loss matches tinyae's VAE.loss_and_backward (same layers, same eps)"

    def gradients():
        for D, L, hidden, N in cases:
            encoder, decoder, ref, x, eps = setup(D, L, hidden, N)
            zero_grads(list(encoder.params()) + list(decoder.params()))
            ref.zero_grad()
            vae_loss_and_backward(encoder, decoder, x.copy(), eps.copy(), beta)
            ref.loss_and_backward(x, eps=eps)
            mine = [(f"encoder.{n}", p) for n, p in encoder.named_params()] + [
                (f"decoder.{n}", p) for n, p in decoder.named_params()]
            theirs = list(ref.encoder.params()) + list(ref.decoder.params())
            compare_all([(f"{label}.grad", p.grad, q.grad) for (label, p), q in zip(mine, theirs)],
                        context=what(D, L, N))
        return "every encoder and decoder grad matches tinyae's"

    class Model:
        """The student's step as a model with loss_and_backward (what check_model checks), eps fixed."""

        def __init__(self, encoder, decoder, eps):
            self.encoder, self.decoder, self.eps = encoder, decoder, eps

        def __repr__(self):
            return "vae_loss_and_backward"

        def named_params(self):
            return [(f"encoder.{n}", p) for n, p in self.encoder.named_params()] + [
                (f"decoder.{n}", p) for n, p in self.decoder.named_params()]

        def params(self):
            return [p for _, p in self.named_params()]

        def loss_and_backward(self, x, target=None, training=True):
            return vae_loss_and_backward(self.encoder, self.decoder, x, self.eps, beta)

    def finite_differences():
        encoder, decoder = _vae_parts(5, 2, 4, rng)
        model = Model(encoder, decoder, rng.normal(size=(3, 2)))
        report = check_model(model, x=rng.uniform(0, 1, size=(3, 5)), seed=int(rng.integers(2**31)))
        caught_by_checker(report)
        if not report.passed:
            fail(show_report(report), report)
        return f"every Param: max relative error {report.max_error:.1e} (tinyae.gradcheck.check_model)"

    def contract():
        encoder, decoder = _vae_parts(5, 2, 4, rng)
        params = list(encoder.params()) + list(decoder.params())
        zero_grads(params)
        x, eps = rng.uniform(0, 1, size=(3, 5)), rng.normal(size=(3, 2))
        vae_loss_and_backward(encoder, decoder, x, eps, beta)
        once = [np.array(p.grad) for p in params]
        vae_loss_and_backward(encoder, decoder, x, eps, beta)
        for p, g in zip(params, once):
            compare(f"{p.name}.grad after two calls", p.grad, 2 * g, context="(grads are ADDED, never assigned)")
        return "grads added (+=) over two calls"

    def training():
        encoder, decoder = _vae_parts(12, 2, 8, rng)
        params = list(encoder.params()) + list(decoder.params())
        opt = Adam(params, lr=0.01)
        x = (rng.uniform(0, 1, size=(32, 12)) > 0.5).astype(F64)
        eps_eval = rng.normal(size=(32, 2))
        first = scalar(vae_loss_and_backward(encoder, decoder, x, eps_eval, beta), "the loss")
        for _ in range(80):
            opt.zero_grad()
            vae_loss_and_backward(encoder, decoder, x, rng.normal(size=(32, 2)), beta)
            opt.step()
        opt.zero_grad()
        last = scalar(vae_loss_and_backward(encoder, decoder, x, eps_eval, beta), "the loss")
        if not last < first:
            fail(f"80 Adam steps with your gradient took the loss from {first:.4g} to {last:.4g}; it should fall")
        return f"80 Adam steps with your gradient take the negative ELBO from {first:.3g} to {last:.3g}"

    return [("loss", loss), ("gradients", gradients), ("finite differences", finite_differences),
            ("contract", contract), ("training", training)]
