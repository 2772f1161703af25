"""Losses and penalties: a forward that returns a number and a backward that returns its gradient.

    L  = loss.forward(pred, target)     # a 0-d array of pred's dtype (float() it once per step)
    dp = loss.backward()                # dL/dpred, same shape and dtype as pred

Penalties on the code h (``KLSparsity``, ``L1Activity``) take one input, ``forward(h)``; ``GaussianKL``
takes two, ``forward(mu, logvar)``, and returns both gradients; ``L2WeightDecay`` takes no input and
ADDS its gradient into the Params it was given (its backward returns None).

Reduction (how the per-element terms l_i become one number) is an explicit argument, and backward
divides by exactly what forward divided by:

    "mean"        L = sum(l) / (number of elements)     the usual reconstruction loss
    "batch_mean"  L = sum(l) / N   (N = batch size)     summed over features, averaged over samples:
                                                        the per-sample convention of VAEs
    "sum"         L = sum(l)

Every loss refuses inputs it cannot take (wrong or mismatched shapes, non-float or mismatched dtypes,
empty arrays, NaN/Inf) with an error naming the loss: broadcasting a (N, 1) prediction against an
(N, D) target would train on a different problem without a word.
"""

from __future__ import annotations

from tinyae import backend, kernels
from tinyae.backend import array_module
from tinyae.functional import denominator, sigmoid
from tinyae.layers.base import cached, check_number, forget_cache, unique_params

__all__ = ["BCE", "MSE", "REDUCTIONS", "BCEWithLogits", "GaussianKL", "KLSparsity", "L1Activity", "L2WeightDecay",
           "Loss", "denominator"]

REDUCTIONS = ("mean", "batch_mean", "sum")


def _check_reduction(reduction, where: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{where}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction




def _as_loss(value, like):
    """The loss as a 0-d array of ``like``'s dtype and device (NumPy reductions return scalars)."""
    return array_module(like).asarray(value, dtype=like.dtype)


class Loss:
    """Base class of losses and penalties.

    Subclasses implement ``forward(*inputs) -> 0-d array`` (keeping on self what backward needs, listed
    in ``_cache_names``) and ``backward() -> gradient`` (or a tuple of gradients, one per input in
    order; data such as a target gets none). ``name`` is a short key for histories and reports.
    """

    name = "loss"
    _cache_names: tuple = ()

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self):
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    def __call__(self, *inputs):
        return self.forward(*inputs)

    def params(self):
        """Params this loss reads directly (only L2WeightDecay has any)."""
        return iter(())

    def config(self) -> dict:
        """The constructor arguments that rebuild this loss."""
        return {}

    def clear_cache(self):
        forget_cache(self)  # _cache_names, and what a fast twin kept (tinyae/layers/base.py)

    def _cached(self, name: str):
        return cached(self, name)  # or: backward came before forward (tinyae/layers/base.py)

    def _check(self, x, what: str):
        """One input: a non-empty, finite float32/float64 array (see ``backend.check_array``)."""
        backend.check_array(x, f"{self!r}.forward: {what}")
        if x.size == 0:
            raise ValueError(f"{self!r}.forward: {what}: got an empty array (shape {tuple(x.shape)})")
        return x

    def _check_pair(self, a, b, names=("pred", "target")):
        """Two inputs that must match exactly: same shape (no broadcasting), same dtype, same device."""
        self._check(a, names[0])
        self._check(b, names[1])
        array_module(a, b)  # refuses a NumPy/CuPy mix
        if tuple(a.shape) != tuple(b.shape):
            raise ValueError(
                f"{self!r}.forward: {names[0]} has shape {tuple(a.shape)} but {names[1]} has shape "
                f"{tuple(b.shape)}; they must match exactly (no broadcasting)"
            )
        if a.dtype != b.dtype:
            raise TypeError(
                f"{self!r}.forward: {names[0]} is {a.dtype} but {names[1]} is {b.dtype}; cast one of them "
                f"(mixing float32 and float64 would silently up-cast)"
            )

    def _check_unit_interval(self, x, what: str, hint: str = ""):
        if not backend.is_numpy_array(x):
            return  # on the GPU, float() would copy to the host and stall every step; fit checks its data once
        low, high = float(x.min()), float(x.max())
        if low < 0 or high > 1:
            raise ValueError(f"{self!r}.forward: {what} must lie in [0, 1], got values in [{low:g}, {high:g}]{hint}")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


# --------------------------------------------------------------------------------------------------
# Reconstruction losses
# --------------------------------------------------------------------------------------------------


class MSE(Loss):
    """Squared error ``L = sum((pred - target)^2) / D``; ``dL/dpred = 2 (pred - target) / D``.

    D is the reduction's denominator (see the module docstring). Any shape; pred and target must match.
    """

    name = "mse"
    _cache_names = ("_diff",)

    def __init__(self, reduction: str = "mean"):
        self.reduction = _check_reduction(reduction, "MSE")
        self._diff = None
        self._denom = None

    def forward(self, pred, target):
        self._check_pair(pred, target)
        self._diff = pred - target
        self._denom = denominator(pred, self.reduction)
        xp = array_module(pred)
        return _as_loss(xp.sum(self._diff * self._diff) / self._denom, pred)

    def backward(self):
        diff = self._cached("_diff")
        return diff * (2 / self._denom)

    def config(self) -> dict:
        return {"reduction": self.reduction}


class BCE(Loss):
    """Binary cross-entropy on probabilities p (the output of a Sigmoid), against targets t in [0, 1].

        l = -(t log p + (1 - t) log(1 - p)),   L = sum(l) / D,   dL/dp = (p - t) / (p (1 - p)) / D

    p is first clipped to [eps, 1 - eps] so log never sees 0 (a float32 sigmoid reaches exactly 1.0).
    The gradient through the clip is taken as the unclipped formula evaluated at the clipped p (not the
    zero a clip's true derivative would give outside the interval), so a saturated unit still gets
    pulled back. Predictions outside [0, 1] are rejected: they are not probabilities (use BCEWithLogits
    on a linear output). For a Sigmoid followed by BCE, prefer BCEWithLogits on the logits: the same
    loss, computed stably, with the simpler gradient sigmoid(z) - t.
    """

    name = "bce"
    _cache_names = ("_p", "_t")

    def __init__(self, reduction: str = "mean", eps: float = 1e-7):
        self.reduction = _check_reduction(reduction, "BCE")
        self.eps = check_number(eps, "eps", "BCE", low=0, high=0.5, low_open=True, high_open=True)
        self._p = self._t = self._denom = None

    def forward(self, pred, target):
        self._check_pair(pred, target)
        self._check_unit_interval(pred, "pred (probabilities)", "; for logits use BCEWithLogits")
        self._check_unit_interval(target, "target")
        xp = array_module(pred)
        p = xp.clip(pred, self.eps, 1 - self.eps)
        self._p, self._t = p, target
        self._denom = denominator(pred, self.reduction)
        total = -xp.sum(target * xp.log(p) + (1 - target) * xp.log1p(-p))
        return _as_loss(total / self._denom, pred)

    def backward(self):
        p, t = self._cached("_p"), self._cached("_t")
        return (p - t) / (p * (1 - p) * self._denom)

    def config(self) -> dict:
        return {"reduction": self.reduction, "eps": self.eps}


class BCEWithLogits(Loss):
    """Binary cross-entropy on logits z (a linear output), against targets t in [0, 1].

        l = -(t log sigmoid(z) + (1 - t) log(1 - sigmoid(z)))
          = max(z, 0) - z t + log1p(exp(-|z|))            (stable: exp never sees a positive argument)
        dL/dz = (sigmoid(z) - t) / D

    The recommended output for data in [0, 1]: an Identity output layer and this loss (the decoder's
    reconstruction is then sigmoid(z)). No clipping is needed and the gradient never vanishes.
    """

    name = "bce_with_logits"
    _cache_names = ("_z", "_t")

    def __init__(self, reduction: str = "mean"):
        self.reduction = _check_reduction(reduction, "BCEWithLogits")
        self._z = self._t = self._denom = None

    @kernels.hot_spot("BCEWithLogits.forward")  # the body is the reference; a twin of it may run (tinyae/kernels)
    def forward(self, pred, target):
        self._check_pair(pred, target)
        self._check_unit_interval(target, "target")
        xp = array_module(pred)
        self._z, self._t = pred, target
        self._denom = denominator(pred, self.reduction)
        total = xp.sum(xp.maximum(pred, 0) - pred * target + xp.log1p(xp.exp(-xp.abs(pred))))
        return _as_loss(total / self._denom, pred)

    @kernels.hot_spot("BCEWithLogits.backward", on="_z")  # the body is the reference; a twin may run (kernels)
    def backward(self):
        z, t = self._cached("_z"), self._cached("_t")
        return (sigmoid(z) - t) / self._denom

    def config(self) -> dict:
        return {"reduction": self.reduction}


# --------------------------------------------------------------------------------------------------
# Penalties on the code h
# --------------------------------------------------------------------------------------------------


class KLSparsity(Loss):
    """Sparsity penalty of a sigmoid code: each unit's average activation should be about rho.

        rho_hat_j = (1/N) sum_n h[n, j]                       the BATCH MEAN activation of unit j
        L         = beta * sum_j KL(rho || rho_hat_j),
                    KL(rho || r) = rho log(rho / r) + (1 - rho) log((1 - rho) / (1 - r))
        dL/dh[n, j] = beta * (-rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j)) / N     (the same for every n)

    h is (N, ...) with values in [0, 1] (a sigmoid output; the "units" are all axes after the batch).
    A float32 sigmoid can round to exactly 0 or 1, so single entries there are accepted; a unit whose
    batch mean is exactly 0 or 1 (saturated on the whole batch) has an infinite KL and is rejected.
    A ReLU code is not a probability: use L1Activity for it.
    """

    name = "kl_sparsity"
    _cache_names = ("_rho_hat",)

    def __init__(self, rho: float = 0.05, beta: float = 3.0):
        self.rho = check_number(rho, "rho", "KLSparsity", 0, 1, low_open=True, high_open=True)
        self.beta = check_number(beta, "beta", "KLSparsity", 0)
        self._rho_hat = self._shape = None

    def forward(self, h):
        self._check(h, "h")
        on_device = not backend.is_numpy_array(h)  # GPU: the range checks would copy to the host every step: skipped
        low, high = (0.0, 1.0) if on_device else (float(h.min()), float(h.max()))
        if low < 0 or high > 1:
            raise ValueError(
                f"{self!r}.forward: h has values in [{low:g}, {high:g}], but KL sparsity is for sigmoid codes "
                f"with values in (0, 1); for ReLU (or other unbounded) codes use L1Activity"
            )
        xp = array_module(h)
        rho, r = self.rho, xp.mean(h, axis=0)  # r: (units...), the batch mean activation
        if not on_device and (float(r.min()) <= 0 or float(r.max()) >= 1):
            raise backend.NonFiniteError(
                f"{self!r}.forward: some unit's batch mean activation is exactly 0 or 1 (saturated sigmoid), "
                f"where KL(rho || rho_hat) is infinite; lower the learning rate or check the encoder"
            )
        self._rho_hat, self._shape = r, tuple(h.shape)
        kl = rho * xp.log(rho / r) + (1 - rho) * xp.log((1 - rho) / (1 - r))
        return _as_loss(self.beta * xp.sum(kl), h)

    def backward(self):
        r = self._cached("_rho_hat")
        n = self._shape[0]
        dr = (self.beta / n) * (-self.rho / r + (1 - self.rho) / (1 - r))  # (units...), dL/drho_hat / N
        dh = backend.empty(self._shape, like=r)
        dh[...] = dr  # every sample of the batch gets the same gradient
        return dh

    def config(self) -> dict:
        return {"rho": self.rho, "beta": self.beta}


class L1Activity(Loss):
    """L1 penalty on the code, pushing activations to exactly 0: ``L = lam * sum|h| / D``.

    ``dL/dh = lam * sign(h) / D`` (0 at h = 0, the subgradient the optimizer then sees).
    Default reduction "batch_mean" (D = N): the penalty per sample, summed over units, so its strength
    does not depend on the batch size nor, per unit, on the code size. Works for any code (ReLU included).
    """

    name = "l1_activity"
    _cache_names = ("_h",)

    def __init__(self, lam: float, reduction: str = "batch_mean"):
        self.lam = check_number(lam, "lam", "L1Activity", 0)
        self.reduction = _check_reduction(reduction, "L1Activity")
        self._h = self._denom = None

    def forward(self, h):
        self._check(h, "h")
        self._h = h
        self._denom = denominator(h, self.reduction)
        xp = array_module(h)
        return _as_loss(self.lam * xp.sum(xp.abs(h)) / self._denom, h)

    def backward(self):
        h = self._cached("_h")
        return array_module(h).sign(h) * (self.lam / self._denom)

    def config(self) -> dict:
        return {"lam": self.lam, "reduction": self.reduction}


# --------------------------------------------------------------------------------------------------
# Penalty on the weights
# --------------------------------------------------------------------------------------------------


class L2WeightDecay(Loss):
    """L2 penalty on chosen Params: ``L = 0.5 * lam * sum_W sum(W^2)``; backward ADDS ``lam * W`` to ``W.grad``.

    params -- the Params to decay (an iterable of Params, or a layer/model: all its Params). Usually the
              weights only: ``[p for p in model.params() if p.name == "W"]``. A Param given twice (a tied
              weight) counts once. backward() needs no forward first (the gradient depends on W only)
              and returns None.

    (With Adam, prefer its decoupled ``weight_decay``: an L2 term in the loss is rescaled by Adam's
    per-weight step size and so does not act as a uniform decay.)
    """

    name = "l2_weight_decay"

    def __init__(self, params, lam: float):
        unique = unique_params(params, "L2WeightDecay")
        if not unique:
            raise ValueError("L2WeightDecay: no Params given")
        self._params = unique
        self.lam = check_number(lam, "lam", "L2WeightDecay", 0)

    def params(self):
        return iter(self._params)

    def forward(self):
        dtypes = {p.value.dtype for p in self._params}
        if len(dtypes) > 1:
            raise TypeError(f"{self!r}.forward: the Params have different dtypes {sorted(map(str, dtypes))}")
        xp = array_module(self._params[0].value)
        total = sum(xp.sum(p.value * p.value) for p in self._params)
        return _as_loss(0.5 * self.lam * total, self._params[0].value)

    def backward(self):
        for p in self._params:
            p.grad += self.lam * p.value
        return None

    def config(self) -> dict:
        return {"lam": self.lam}

    def __repr__(self):
        return f"L2WeightDecay(lam={self.lam!r}, {len(self._params)} Params)"


# --------------------------------------------------------------------------------------------------
# The VAE's prior term
# --------------------------------------------------------------------------------------------------


class GaussianKL(Loss):
    """KL divergence of the encoder's N(mu, exp(logvar)) from the prior N(0, 1), per latent dimension:

        KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) / D
        dKL/dmu = mu / D,   dKL/dlogvar = 0.5 * (exp(logvar) - 1) / D

    forward(mu, logvar), both (N, latent); backward() returns (dmu, dlogvar). Default reduction
    "batch_mean" (D = N): summed over latent dimensions, averaged over the batch, matching a
    reconstruction loss with reduction "batch_mean" (the ELBO per sample).
    """

    name = "gaussian_kl"
    _cache_names = ("_mu", "_var")

    def __init__(self, reduction: str = "batch_mean"):
        self.reduction = _check_reduction(reduction, "GaussianKL")
        self._mu = self._var = self._denom = None

    def forward(self, mu, logvar):
        self._check_pair(mu, logvar, names=("mu", "logvar"))
        xp = array_module(mu)
        var = xp.exp(logvar)  # sigma^2
        self._mu, self._var = mu, var
        self._denom = denominator(mu, self.reduction)
        total = xp.sum(1 + logvar - mu * mu - var)
        return _as_loss(-0.5 * total / self._denom, mu)

    def backward(self):
        mu, var = self._cached("_mu"), self._cached("_var")
        return mu / self._denom, (var - 1) * (0.5 / self._denom)

    def config(self) -> dict:
        return {"reduction": self.reduction}
