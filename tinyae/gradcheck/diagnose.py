"""Diagnosis: what a failed gradient check most likely means, in words a student can act on.

A failed tensor is tested against the classic patterns of hand-written backward passes, each an
exact relation between backward's gradient ``a`` and the finite-difference one ``n`` (over the
compared entries):

    zeros            a == 0 everywhere, n is not                 never written / not in params()
    constant ratio   a == r n  (r = 2, 1/N, N, -1, ...)           a factor: 2, the batch size, the sign
    transpose        a.T == n  (any permutation of the axes)     the operands of a product swapped
    flipped kernel   a[..., ::-1, ::-1] == n                     convolution vs correlation
    wrong shape      a.shape != n.shape (and a.T or a reshaped matches?)
    term             a - n == c * n_k for one term k of a model's loss    a penalty's gradient is off

Correct code fails none of the tests, so it gets no diagnosis at all. The counterfactual tests that
call the checked object again (dx with W.T or a flipped W, an activation's derivative taken at its
output) live in ``tinyae.gradcheck`` next to the checks; this module only compares arrays and words
the findings.
"""

from __future__ import annotations

import itertools

import numpy as np

from tinyae.gradcheck.report import Diagnosis

MATCH_TOL = 1e-6  # relative error under which a transformed gradient "is" the true one


def matches(candidate, numeric, tol=MATCH_TOL, roundoff=0.0) -> bool:
    """candidate == numeric to ``tol``, or within the finite differences' own ``roundoff`` (per entry)."""
    scale = np.abs(candidate) + np.abs(numeric)
    return bool(np.all(np.abs(candidate - numeric)
                       <= tol * np.maximum(scale, 1e-12 * max(scale.max(), 1e-300)) + roundoff))


def pick(full, indices):
    """The entries of ``full`` at ``indices`` (index tuples), as a 1-D float64 array."""
    return np.array([full[i] for i in indices], dtype=np.float64)


def sizes_of(x) -> dict:
    """Integers a forgotten or doubled division is likely to be, with what they are (for the ratio test)."""
    n = int(x.shape[0]) if x.ndim else 1
    d = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
    sizes = {}
    for k, what in ((n, "the batch size N"), (d, "the number of features per sample"),
                    (n * d, "the number of entries N*D")):
        if k >= 2 and k not in sizes:
            sizes[k] = what
    return sizes


def constant_ratio(a, n, tol=MATCH_TOL, roundoff=0.0):
    """r if a == r * n at every entry (r != 0, 1), up to ``tol`` and n's own ``roundoff``, else None."""
    scale = float(np.max(np.abs(n), initial=0.0))
    if scale == 0:
        return None
    big = np.abs(n) > 1e-3 * scale
    r = float(np.median(a[big] / n[big]))
    if r == 0 or abs(r - 1) < 1e-4:
        return None
    allowed = abs(r) * (tol * np.where(big, np.abs(n), scale) + roundoff)  # a = r (n - noise), |noise| <= roundoff
    return r if np.all(np.abs(a - r * n) <= allowed) else None


def _as_fraction(r):
    """(k, inverse): r == +-k or +-1/k for an integer k >= 2 (to 1e-6), else None."""
    m = abs(r)
    for value, inverse in ((m, False), (1 / m, True)):
        k = round(value)
        if 2 <= k <= 10**7 and abs(value - k) <= 1e-6 * k:
            return k, inverse
    return None


def ratio_message(name, r, line, sizes):
    """The words for a gradient that is r times the true one."""
    if abs(r + 1) < 1e-6:
        return (f"{name}: your gradient is -1 x the true one at every entry: the sign is flipped. Look for a "
                f"minus sign in {line} (e.g. t - y where the derivative has y - t).")
    sign = ", and the sign is flipped" if r < 0 else ""
    frac = _as_fraction(r)
    if frac is None:
        return (f"{name}: your gradient is {r:.3g} x the true one at every entry{sign}: a constant factor is "
                f"wrong in {line}.")
    k, inverse = frac
    if not inverse:
        head = f"{name}: your gradient is {r:.2f} x the true one at every entry{sign}"
        if k in sizes:
            return (f"{head}. {k} is {sizes[k]}: the forward divides by it (a mean), so the gradient must be "
                    f"divided by it too. Is the 1/{k} missing from {line}?")
        if k == 2:
            return f"{head}: is there a factor 2 too many in {line} (the 2 of a square's derivative counted twice)?"
        return f"{head}: is there a factor {k} too many in {line}?"
    head = f"{name}: your gradient is {abs(r):.4g} = 1/{k} x the true one at every entry{sign}"
    if k in sizes:
        return (f"{head}. {k} is {sizes[k]}: is the mean taken twice? The upstream gradient dy already "
                f"carries the loss's 1/{k}, so {line} must not divide by {k} again.")
    if k == 2:
        return f"{head}: is the 2 of a square's derivative (d/dx x^2 = 2x) missing from {line}?"
    return f"{head}: is {line} divided by {k}?"


def diagnose_values(name, gradient, indices, n, line, sizes, kind="param", roundoff=0.0):
    """Diagnoses of a failed tensor whose gradient has the right shape: zeros, ratio, transpose, flip.
    ``roundoff``: the finite differences' own rounding error per entry (differences within it agree)."""
    a = pick(gradient, indices)
    found = []
    if np.all(a == 0) and np.any(n != 0):
        if kind == "param":
            msg = (f"{name}: its gradient is 0 at every entry ({len(a)} of {len(a)}) while the true one is not: "
                   f"nothing was ever added into {name}.grad. Does backward add into it ({name}.grad += ...)? "
                   f"Is {name} yielded by params()?")
        else:
            msg = (f"{name}: {line} is 0 at every entry while the true gradient is not: "
                   f"is the gradient computed but not returned?")
        return [Diagnosis("zeros", name, msg)]
    r = constant_ratio(a, n, roundoff=roundoff)
    if r is not None:
        found.append(Diagnosis("sign" if abs(r + 1) < 1e-6 else "ratio", name, ratio_message(name, r, line, sizes),
                               value=r))
    for perm in permutations_to(gradient.shape, gradient.shape):
        if matches(pick(gradient.transpose(perm), indices), n, roundoff=roundoff):
            found.append(Diagnosis("transpose", name, transpose_message(name, perm, line), value=perm))
            break
    if gradient.ndim >= 3 and matches(pick(gradient[..., ::-1, ::-1], indices), n, roundoff=roundoff):
        found.append(Diagnosis(
            "flipped_kernel", name,
            f"{name}: your gradient is the true one rotated 180 degrees (flipped along both spatial axes): a "
            f"convolution and a correlation are mixed up in {line}. Flip the kernel there "
            f"([..., ::-1, ::-1]) or slide the other array."))
    return found


def permutations_to(shape, target):
    """Axis permutations p (not the identity) with shape permuted by p equal to ``target``."""
    ndim = len(shape)
    if ndim < 2 or ndim > 5:
        return []
    return [p for p in itertools.permutations(range(ndim))
            if p != tuple(range(ndim)) and tuple(shape[i] for i in p) == tuple(target)]


def transpose_message(name, perm, line):
    if len(perm) == 2:
        return (f"{name}: the transpose of your gradient is the true one. The operands of a product are "
                f"swapped in {line} (e.g. dy.T @ x where it should be x.T @ dy).")
    return (f"{name}: your gradient with its axes reordered as {perm} is the true one: the axes are in the "
            f"wrong order in {line}.")


def diagnose_shape(name, gradient, shape, indices, n, line):
    """Diagnoses of a gradient whose shape is not its tensor's (``n``: the true gradient at ``indices``)."""
    got, want = tuple(gradient.shape), tuple(shape)
    msg = (f"{name}: your gradient has shape {got}, but {name} has shape {want}: a gradient always has the "
           f"shape of its tensor.")
    found = []
    for perm in permutations_to(got, want):
        if n is not None and matches(pick(gradient.transpose(perm), indices), n):
            found.append(Diagnosis("transpose", name, transpose_message(name, perm, line), value=perm))
            break
    else:
        if int(np.prod(got)) == int(np.prod(want)) and n is not None and matches(
                pick(gradient.reshape(want), indices), n):
            msg += f" Reshaped to {want} it is the true one: reshape it back in {line}."
    return [Diagnosis("wrong_shape", name, msg, value=got), *found]


def term_attribution(name, a, n, terms: dict, sizes):
    """If a - n == c * (finite-difference gradient of one term of the loss), name that term.

    ``terms``: {term name: its finite-difference gradient at the compared entries}.
    """
    d = a - n
    best = None
    for key, nk in terms.items():
        norm = float(nk @ nk)
        if norm == 0:
            continue
        c = float(d @ nk) / norm
        residual = float(np.max(np.abs(d - c * nk)))
        if abs(c) > 1e-3 and residual <= 1e-5 * float(np.max(np.abs(d))):
            if best is None or residual < best[2]:
                best = (key, c, residual)
    if best is None:
        return []
    key, c, _ = best
    used = 1 + c
    head = f"{name}: the error is exactly {c:+.3g} x the gradient of the loss term '{key}'"
    if abs(used) < 1e-6:
        tail = (f": that term's gradient never reaches {name}. Is the backward of '{key}' called, and its "
                f"gradient added into dh?")
    elif abs(used - 2) < 1e-6:
        tail = f": that term's gradient arrives twice. Is the backward of '{key}' added twice?"
    else:
        frac = _as_fraction(used)
        tail = f": the model gets {used:.4g} x the true gradient of '{key}'. Check that term's backward"
        if frac is not None and frac[0] in sizes:
            k, inverse = frac
            tail += (f" ({k} is {sizes[k]}: is its 1/{k} missing?)" if not inverse
                     else f" ({k} is {sizes[k]}: does it divide by {k} twice?)")
        tail += "."
    return [Diagnosis("term", name, head + tail, value=(key, used))]


def split_message(report, params_checked: bool):
    """'only dx fails' / 'only a parameter fails', for a layer with Params whose input was checked."""
    if not params_checked:
        return []
    by_name = {t.name: t for t in report.tensors}
    x = by_name.get("input x")
    others = [t for t in report.tensors if t.name != "input x"]
    if x is None or not others:
        return []
    failed = [t.name for t in others if not t.passed]
    if not x.passed and not failed:
        names = ", ".join(t.name for t in others)
        return [Diagnosis("only_dx", "input x",
                          f"Only the input gradient fails, and {names} pass: the forward pass and the parameter "
                          f"lines are right, so the bug is in the dx your backward returns.")]
    if x.passed and failed:
        names = ", ".join(failed)
        return [Diagnosis("only_param", failed[0],
                          f"dx is right but {names} fail{'s' if len(failed) == 1 else ''}: the forward pass is "
                          f"right, so the bug is in the line that adds into "
                          f"{' / '.join(f'{n}.grad' for n in failed)}.")]
    return []


def kink_message(name, kinks, n_failed, checked, sides, h):
    """A tensor that fails only at entries where the function has a kink."""
    left, right = sides
    rest = n_failed - len(kinks)
    which = "it sits" if n_failed == 1 else "each sits" if rest == 0 else f"{len(kinks)} of them sit"
    at = tuple(int(i) for i in kinks[0])
    if abs(left - right) <= 1e-6 * (abs(left) + abs(right)):
        detail = f"at {at} the slope right there is {left:.4g}, but the stencil's steps reach across a bend"
    else:
        detail = f"at {at} the slope is {left:.4g} on one side and {right:.4g} on the other"
    head = (f"{name}: fails at {n_failed} of {checked} entries, and {which} next to a kink ({detail}): a ReLU "
            f"at 0, a max-pool tie or |x| at 0. ")
    if rest:
        return head + f"The other {rest} failing entries are not at kinks: look at those for a bug."
    return head + (f"Finite differences cannot measure a slope there, so this is not a bug in your code: choose "
                   f"inputs at least 2h = {2 * h:.0e} away from kinks (tinyae.gradcheck.cases.away_from_zero, "
                   f"distinct_values).")
