"""Stage 6 check: Adam against tinyae's over a sequence of steps (finite differences cannot check an optimizer)."""

from __future__ import annotations

import numpy as np

from tinyae.exercises.checking import as_array, compare, fail
from tinyae.layers.base import Param
from tinyae.optim import Adam as Ref

SHAPES = [(3, 4), (5,), (2, 1, 3)]


def _params(rng):
    values = [rng.normal(size=s) for s in SHAPES]
    return [Param(v.copy(), f"p{i + 1}") for i, v in enumerate(values)], [
        Param(v.copy(), f"p{i + 1}") for i, v in enumerate(values)]


def parts_adam(Adam, rng):
    def first_step():
        mine, _ = _params(rng)
        lr = float(rng.uniform(0.01, 0.1))
        before = [p.value.copy() for p in mine]
        grads = [rng.normal(size=p.value.shape) for p in mine]
        for p, g in zip(mine, grads):
            p.grad = g.copy()
        Adam(mine, lr=lr).step()
        for p, w, g in zip(mine, before, grads):
            compare(f"{p.name} after step 1", p.value, w - lr * g / (np.abs(g) + 1e-8),
                    context=f"(at t = 1, m_hat = g and v_hat = g^2: the step is lr * g / (|g| + eps), lr = {lr:.3g})")
        return "the first step is lr * g / (|g| + eps), about lr * sign(g)"

    def sequence():
        mine, ref = _params(rng)
        lr, betas = float(rng.uniform(0.005, 0.05)), (float(rng.uniform(0.6, 0.9)), float(rng.uniform(0.9, 0.99)))
        a, b = Adam(mine, lr=lr, betas=betas, eps=1e-8), Ref(ref, lr=lr, betas=betas, eps=1e-8)
        for t in range(1, 31):
            for p, q in zip(mine, ref):
                g = rng.normal(size=p.value.shape) * (1 + t % 3)  # gradients of changing size
                p.grad, q.grad = g.copy(), g.copy()
            a.step()
            b.step()
            for p, q in zip(mine, ref):
                compare(f"{p.name}", p.value, q.value, rtol=1e-8,
                        context=f"after step {t} (lr {lr:.3g}, betas ({betas[0]:.3g}, {betas[1]:.3g}))")
        return f"30 steps match tinyae's Adam value for value (betas ({betas[0]:.2f}, {betas[1]:.3f}), lr {lr:.3g})"

    def in_place():
        mine, _ = _params(rng)
        arrays = [p.value for p in mine]
        grads = [rng.normal(size=p.value.shape) for p in mine]
        for p, g in zip(mine, grads):
            p.grad = g.copy()
        Adam(mine, lr=0.01).step()
        moved = [p.name for p, a in zip(mine, arrays) if p.value is not a]
        if moved:
            fail(f"step replaced the value array of {', '.join(moved)}: update it in place (p.value -= ...), "
                 f"others may hold the same array")
        changed = [p.name for p, g in zip(mine, grads) if not np.array_equal(as_array(p.grad, p.name), g)]
        if changed:
            fail(f"step changed the grad of {', '.join(changed)}: it only reads the gradients")
        return "values updated in place, grads only read"

    return [("first step", first_step), ("sequence", sequence), ("contract", in_place)]
