"""Optimizers: read each ``param.grad``, update ``param.value`` in place.

    loss.forward(...); model.backward(loss.backward())     # fills param.grad
    opt.step()                                             # param.value changes here, and only here
    opt.zero_grad()                                        # grads back to 0 for the next batch

An optimizer owns its state (momentum buffers, Adam's moments), stored per Param in the order the
Params were given; layers hold no reference to it. The state is created lazily on the Param's device
and dtype, and ``state_dict()`` / ``load_state_dict()`` turn it into plain NumPy arrays and ints for
saving (``.npz``), so training can resume exactly.
"""

from __future__ import annotations

from tinyae import backend, kernels
from tinyae.backend import array_module
from tinyae.functional import adam_step_scalars  # re-exported: tinyae.optim.adam_step_scalars
from tinyae.layers.base import Param, check_number, unique_params


class Optimizer:
    """Base class: holds the Params (each once, by identity, in the given order) and the step count.

    params -- an iterable of Params, or a layer/model (all its Params). A tied Param given twice is
              updated once, with its summed gradient.
    Subclasses implement ``_update(i, p)`` for Param number i, and list their per-Param buffers in
    ``_buffers`` (e.g. ("m", "v")).
    """

    _buffers: tuple = ()

    def __init__(self, params, lr: float):
        where = type(self).__name__
        unique = unique_params(params, where)
        if not unique:
            raise ValueError(f"{where}: got no Params to optimize")
        self.params = unique
        self.lr = check_number(lr, "lr", where, 0.0, low_open=True)
        self.t = 0  # number of steps taken
        self.state = [{} for _ in unique]  # state[i][buffer name] -> array like params[i].value

    # -- the contract ---------------------------------------------------------------------------
    def step(self):
        """Update every Param from its grad (in place: ``p.value`` stays the same array object)."""
        self.check_grads()
        self.t += 1
        for i, p in enumerate(self.params):
            self._update(i, p)

    def check_grads(self):
        """Refuse a grad whose shape is not its Param's (NumPy would broadcast it, a compiled loop misread it)."""
        for p in self.params:
            if p.grad.shape != p.value.shape:
                raise ValueError(f"{type(self).__name__}.step: Param {p.name!r} has a grad of shape "
                                 f"{tuple(p.grad.shape)} for a value of shape {tuple(p.value.shape)}; a backward "
                                 f"must add a gradient of its Param's own shape")

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()

    def _update(self, i: int, p: Param):
        raise NotImplementedError(f"{type(self).__name__}._update is not implemented")

    # -- state ----------------------------------------------------------------------------------
    def _buffer(self, i: int, name: str):
        """Param i's buffer ``name``: zeros on first use; follows the Param if it was cast or moved."""
        p = self.params[i]
        buf = self.state[i].get(name)
        if buf is not None and type(buf) is type(p.value) and buf.dtype == p.value.dtype:
            return buf  # the usual case: same array type (so the same device) and dtype as the Param
        if buf is None:
            buf = array_module(p.value).zeros_like(p.value)
        elif buf.dtype != p.value.dtype or backend.device_of(buf) != backend.device_of(p.value):
            buf = backend.to_device(buf, backend.device_of(p.value)).astype(p.value.dtype)
        self.state[i][name] = buf
        return buf

    def state_dict(self) -> dict:
        """{"t": steps, "<buffer>.<i>": NumPy array, ...}: plain arrays and an int, ready for ``np.savez``."""
        out = {"t": int(self.t)}
        for i, bufs in enumerate(self.state):
            for name, buf in bufs.items():
                out[f"{name}.{i}"] = backend.to_numpy(buf).copy()
        return out

    def load_state_dict(self, state: dict):
        """Restore what ``state_dict()`` returned (onto the Params' device and dtype)."""
        where = f"{type(self).__name__}.load_state_dict"
        if "t" not in state:
            raise ValueError(f"{where}: missing the step count 't'")
        new = [{} for _ in self.params]
        for key, value in state.items():
            if key == "t":
                continue
            name, _, index = key.rpartition(".")
            if name not in self._buffers or not index.isdigit() or int(index) >= len(self.params):
                raise ValueError(f"{where}: unexpected entry {key!r} for {len(self.params)} Params "
                                 f"with buffers {self._buffers}")
            p = self.params[int(index)]
            if tuple(value.shape) != tuple(p.shape):
                raise ValueError(f"{where}: {key} has shape {tuple(value.shape)}, but Param {index} "
                                 f"({p.name!r}) has shape {tuple(p.shape)}")
            new[int(index)][name] = backend.to_device(value, backend.device_of(p.value)).astype(p.value.dtype)
        self.t = int(state["t"])
        self.state = new

    def config(self) -> dict:
        """The hyperparameters (for saving next to ``state_dict()``)."""
        return {"lr": self.lr}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({len(self.params)} Params, {args})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum in PyTorch's form:

        v <- momentum * v + g        (v starts at 0, so the first step is plain SGD)
        w <- w - lr * v

    (The other common form, v <- momentum * v - lr * g; w <- w + v, is the same for a constant lr.)
    """

    _buffers = ("velocity",)

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0):
        super().__init__(params, lr)
        self.momentum = check_number(momentum, "momentum", "SGD", 0.0, 1.0, high_open=True)

    def _update(self, i, p):
        if self.momentum == 0:
            p.value -= self.lr * p.grad
            return
        v = self._buffer(i, "velocity")
        v *= self.momentum
        v += p.grad
        p.value -= self.lr * v

    def config(self) -> dict:
        return {"lr": self.lr, "momentum": self.momentum}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction, and PyTorch's defaults and conventions (eps added to sqrt(v_hat)).

    At step t = 1, 2, ... with gradient g:

        m <- b1 m + (1 - b1) g                  first moment (mean of g), starts at 0
        v <- b2 v + (1 - b2) g^2                second moment, starts at 0
        m_hat = m / (1 - b1^t)                  undo the pull towards the zero start
        v_hat = v / (1 - b2^t)
        w <- w - lr * m_hat / (sqrt(v_hat) + eps)

    The correction divides by 1 - b^t (which -> 1): at t = 1, m_hat = g exactly. Dividing by (1 - b)
    instead, a common slip, is right only at t = 1: for a constant gradient, where every correct step is
    exactly lr, with b1 = 0.9 and b2 = 0.999 the steps t = 2, 3, 4, 5 come out 1.34, 1.57, 1.72 and
    1.83 lr, since m / (1 - b1) = (1 - b1^t) g / (1 - b1) grows about like t g while sqrt(v / (1 - b2))
    grows only like sqrt(t) |g| (tests/test_dispatch.py::test_adam_bias_correction_against_the_slip).

    Computed in the order Kingma & Ba give for speed (end of their Section 2): multiply the last line's
    fraction by sqrt(1 - b2^t) / sqrt(1 - b2^t), and both corrections become scalars of the step,

        w <- w - lr_t * m / (sqrt(v) + eps_hat),   lr_t = lr sqrt(1 - b2^t) / (1 - b1^t),  eps_hat = eps sqrt(1 - b2^t)

    the same number up to rounding, with one division per weight instead of two (``adam_step_scalars``,
    in tinyae.functional so that the fast twins in tinyae/kernels compute the very same scalars).

    weight_decay is DECOUPLED (AdamW, Loshchilov & Hutter): before the Adam update, w <- w - lr * wd * w.
    An L2 term added to the loss would instead be divided by sqrt(v_hat), so weights with large
    gradients would hardly be decayed; the decoupled form decays every weight at the same rate.
    """

    _buffers = ("m", "v")

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (check_number(betas[0], "beta1", "Adam", 0.0, 1.0, high_open=True),
                      check_number(betas[1], "beta2", "Adam", 0.0, 1.0, high_open=True))
        self.eps = check_number(eps, "eps", "Adam", 0.0, low_open=True)
        self.weight_decay = check_number(weight_decay, "weight_decay", "Adam", 0.0)

    @kernels.hot_spot("Adam.step", on=lambda opt: opt.params[0].value)  # a twin may run all Params at once (kernels)
    def step(self):
        """Optimizer.step: ``_update`` below for every Param, in turn."""
        super().step()

    def _update(self, i, p):
        b1, b2 = self.betas
        g = p.grad
        m, v = self._buffer(i, "m"), self._buffer(i, "v")
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        if self.weight_decay:
            p.value *= 1 - self.lr * self.weight_decay  # decoupled decay, before the Adam step
        step_size, eps_hat = adam_step_scalars(self.lr, b1, b2, self.eps, self.t)  # Python floats: no up-cast
        denom = array_module(v).sqrt(v)
        denom += eps_hat  # sqrt(v) + eps_hat
        step = m / denom
        step *= step_size
        p.value -= step  # w <- w - lr_t * m / (sqrt(v) + eps_hat) = w - lr * m_hat / (sqrt(v_hat) + eps)

    def config(self) -> dict:
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps, "weight_decay": self.weight_decay}
