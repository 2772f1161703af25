"""The glue of the method twins that the CPU (fused_cpu.py) and the GPU (cupy_gpu.py) share.

A method twin (``@kernels.twin``) takes the method's own arguments, the object first, and leaves the
object in the state the method body would. For ``Adam.step`` and ``BCEWithLogits.forward``/``backward``
that glue -- the checks, the cache, the optimizer's step count and buffers -- is the same whichever
kernels then do the arithmetic, so it is written once here and handed the module of the kernels:

    adam_step(module, arrays_fit)          -> (twin, accepts) of ``Adam.step``
    bce_with_logits(module)                -> (forward twin, backward twin) of ``BCEWithLogits``

where the module (fused_cpu, cupy_gpu) defines, with the same signatures on every device:

    adam_update(ws, gs, ms, vs, *, lr, beta1, beta2, eps, t, weight_decay)   the Params of one dtype, in place
    bce_with_logits_forward(z, t) -> (sum of the per-element losses, e = exp(-|z|))
    bce_with_logits_backward(z, t, e, denom) -> dL/dz = (sigmoid(z) - t) / denom

(looked up at every call, so a test can wrap them).

No Numba and no CuPy here: this module imports neither (the kernel modules do, lazily).
"""

from __future__ import annotations

from tinyae.backend import array_module
from tinyae.functional import denominator


def adam_update_is_the_reference(opt) -> bool:
    """Whether ``opt`` updates a Param by ``tinyae.optim.Adam._update`` itself. A subclass may change the
    update (clip the gradient, say): then a fused loop would skip the change, and each Param must take
    its own ``_update`` (the method body of ``Adam.step``)."""
    for klass in type(opt).__mro__:
        if "_update" in vars(klass):
            return klass.__name__ == "Adam" and klass.__module__ == "tinyae.optim"
    return False


def adam_groups(opt, arrays_fit):
    """[(values, grads, ms, vs) of the Params of one dtype, ...] when ``arrays_fit`` takes every array
    and each Param's grad has its value's dtype and shape; else None."""
    n = len(opt.params)
    values, grads = [p.value for p in opt.params], [p.grad for p in opt.params]
    ms, vs = [opt._buffer(i, "m") for i in range(n)], [opt._buffer(i, "v") for i in range(n)]
    if not arrays_fit(values + grads + ms + vs):
        return None
    if any(g.dtype != w.dtype or g.shape != w.shape for w, g in zip(values, grads)):
        return None  # a wrong grad shape: the method body's Optimizer.check_grads names it
    by_dtype = {}
    for k, w in enumerate(values):
        by_dtype.setdefault(w.dtype, []).append(k)
    return [tuple([arrays[k] for k in ks] for arrays in (values, grads, ms, vs)) for ks in by_dtype.values()]


def adam_step(module, arrays_fit):
    """The twin of ``Adam.step`` that runs ``module.adam_update`` once per dtype on all Params, and its ``accepts``."""

    found = [None, None]  # (optimizer, its groups), from accepts to the twin of the same dispatch

    def accepts(opt):
        found[:] = opt, (adam_groups(opt, arrays_fit) if adam_update_is_the_reference(opt) else None)
        return found[1] is not None

    def twin(opt):
        """Twin of ``Adam.step``: the arithmetic of ``Adam._update``, for all Params at once."""
        groups = found[1] if found[0] is opt else adam_groups(opt, arrays_fit)
        found[:] = None, None
        opt.check_grads()
        opt.t += 1
        beta1, beta2 = opt.betas
        for values, grads, ms, vs in groups:
            module.adam_update(values, grads, ms, vs, lr=opt.lr, beta1=beta1, beta2=beta2, eps=opt.eps, t=opt.t,
                               weight_decay=opt.weight_decay)

    return twin, accepts


def bce_with_logits(module):
    """The twins of ``BCEWithLogits.forward`` and ``backward`` around ``module``'s two kernels."""

    def forward_twin(loss, pred, target):
        """The same checks and cache as the method body, the sum by the module's kernel. It also keeps
        e = exp(-|z|) next to the z it belongs to, so that the backward twin needs no second exponential."""
        loss._check_pair(pred, target)
        loss._check_unit_interval(target, "target")
        loss._z, loss._t = pred, target
        loss._denom = denominator(pred, loss.reduction)
        total, e = module.bce_with_logits_forward(pred, target)
        loss._twin_exp_neg_abs = (pred, e)
        return array_module(pred).asarray(total / loss._denom, dtype=pred.dtype)  # 0-d, pred's dtype

    def backward_twin(loss):
        """(sigmoid(z) - t) / D by the module's kernel, from the e = exp(-|z|) the forward twin kept for this very
        z, or computed here (after a forward that ran the method body)."""
        z, t = loss._cached("_z"), loss._cached("_t")
        kept = getattr(loss, "_twin_exp_neg_abs", None)
        if kept is not None and kept[0] is z:
            e = kept[1]
        else:
            xp = array_module(z)
            e = xp.exp(-xp.abs(z))
        return module.bce_with_logits_backward(z, t, e, loss._denom)

    return forward_twin, backward_twin
