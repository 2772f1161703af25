"""The RBM proved against exact enumeration (CD is not the gradient of any function, so no finite
differences of a loss can check it), and against scikit-learn's BernoulliRBM as an outside reference.

The reference here is written from the energy alone: on a tiny RBM (8 visible, 5 hidden: 2**13 joint
states) p(v, h) = exp(-E(v, h)) / Z is computed for every state, and every expectation is a weighted
sum over that table. Nothing in it calls the code's free energy, conditionals or statistics.
"""

import math

import numpy as np
import pytest

from tinyae import data, zoo
from tinyae.rbm import RBM, all_binary_states, pretrain

V, H = 8, 5


def tiny_rbm(seed=0, scale=1.0, hidden="bernoulli", n_visible=V, n_hidden=H):
    """A tiny float64 RBM with weights large enough that CD-1 is visibly biased."""
    rbm = RBM(n_visible, n_hidden, hidden=hidden, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(100 + seed)
    rbm.W[...] = rng.normal(0, scale, size=rbm.W.shape)
    rbm.b[...] = rng.normal(0, 0.5, size=rbm.b.shape)
    rbm.c[...] = rng.normal(0, 0.5, size=rbm.c.shape)
    return rbm


def tiny_data(n=12, seed=1, n_visible=V):
    return np.random.default_rng(seed).integers(0, 2, size=(n, n_visible)).astype(np.float64)


def joint_table(W, b, c):
    """Reference: every (v, h) of a Bernoulli RBM with p(v, h) from E = -b.v - c.h - v W h, by brute force."""
    Vs, Hs = all_binary_states(len(b)), all_binary_states(len(c))
    E = -(Vs @ b)[:, None] - (Hs @ c)[None, :] - np.einsum("ai,ij,bj->ab", Vs, W, Hs)  # (2**V, 2**H)
    P = np.exp(-(E - E.min()))
    return Vs, Hs, P / P.sum()


def reference_log_likelihood(W, b, c, X):
    Vs, Hs, P = joint_table(W, b, c)
    pv = P.sum(axis=1)
    index = (X @ (2 ** np.arange(len(b) - 1, -1, -1))).astype(int)  # row of each data vector in Vs
    return float(np.log(pv[index]).mean())


def reference_gradient(W, b, c, X):
    """d mean log p(X) / d(W, b, c) = E_data,p(h|v)[v h^T] - E_p(v,h)[v h^T]: both by enumeration."""
    Vs, Hs, P = joint_table(W, b, c)
    index = (X @ (2 ** np.arange(len(b) - 1, -1, -1))).astype(int)
    cond = P[index] / P[index].sum(axis=1, keepdims=True)  # p(h | v) for each data row, (N, 2**H)
    pos = (np.einsum("ni,nb,bj->ij", X, cond, Hs) / len(X), X.mean(axis=0), (cond @ Hs).mean(axis=0))
    neg = (np.einsum("ab,ai,bj->ij", P, Vs, Hs), P.sum(axis=1) @ Vs, P.sum(axis=0) @ Hs)
    return pos, neg


def central_differences(f, params, h=1e-5):
    """(f(p + h) - f(p - h)) / 2h for every entry of every array in params (changed in place and restored)."""
    numerics = []
    for param in params:
        numeric = np.zeros_like(param)
        for i in np.ndindex(param.shape):
            old = param[i]
            param[i] = old + h
            up = f()
            param[i] = old - h
            down = f()
            param[i] = old
            numeric[i] = (up - down) / (2 * h)
        numerics.append(numeric)
    return numerics


# -- the model: free energy and conditionals against the joint table ------------------------------------


def test_free_energy_and_conditionals_match_enumeration():
    rbm = tiny_rbm()
    Vs, Hs, P = joint_table(rbm.W, rbm.b, rbm.c)
    E = -(Vs @ rbm.b)[:, None] - (Hs @ rbm.c)[None, :] - np.einsum("ai,ij,bj->ab", Vs, rbm.W, Hs)
    np.testing.assert_allclose(rbm.free_energy(Vs), -np.log(np.exp(-E).sum(axis=1)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rbm.energy(np.repeat(Vs, len(Hs), 0), np.tile(Hs, (len(Vs), 1))), E.ravel(),
                               rtol=1e-12, atol=1e-12)
    cond_h = P / P.sum(axis=1, keepdims=True)  # p(h | v), rows v
    np.testing.assert_allclose(rbm.hidden_mean(Vs), cond_h @ Hs, rtol=1e-10, atol=1e-12)
    cond_v = P / P.sum(axis=0, keepdims=True)  # p(v | h), columns h
    np.testing.assert_allclose(rbm.visible_mean(Hs), cond_v.T @ Vs, rtol=1e-10, atol=1e-12)


def test_exact_log_likelihood_matches_enumeration():
    rbm, X = tiny_rbm(), tiny_data()
    assert rbm.exact_log_likelihood(X) == pytest.approx(reference_log_likelihood(rbm.W, rbm.b, rbm.c, X), abs=1e-10)


# -- (a) the exact positive and negative phases are the code's formulas ------------------------------------


def test_exact_phases_match_the_code_statistics_and_the_finite_difference_gradient():
    rbm, X = tiny_rbm(), tiny_data()
    pos_ref, neg_ref = reference_gradient(rbm.W, rbm.b, rbm.c, X)
    pos = rbm.statistics(X, rbm.hidden_mean(X))  # the code's positive phase, exact given the data
    Vs = all_binary_states(V)
    F = rbm.free_energy(Vs)
    pv = np.exp(-(F - F.min()))
    neg = rbm.statistics(Vs, rbm.hidden_mean(Vs), weights=pv / pv.sum())  # the negative phase, weighted by p(v)
    for a, r in zip(pos + neg, pos_ref + neg_ref):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-12)
    # and positive - negative is the gradient of the exact log-likelihood (central differences, float64)
    grads = [p - n for p, n in zip(pos, neg)]
    for grad, numeric in zip(grads, central_differences(lambda: reference_log_likelihood(rbm.W, rbm.b, rbm.c, X),
                                                        (rbm.W, rbm.b, rbm.c))):
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_gaussian_hidden_free_energy_by_quadrature_and_its_gradient():
    rbm = tiny_rbm(hidden="gaussian", scale=0.5, n_visible=4, n_hidden=2)
    # F(v) = -log of the integral of exp(-E(v, h)) over h in R^2: a 2-D grid on [-12, 12]^2 (the
    # Gaussian's tails beyond it are below 1e-20, and the trapezoid rule is spectrally accurate here)
    g = np.linspace(-12, 12, 601)
    hh = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
    Vs = all_binary_states(4)
    for v in Vs:
        E = rbm.energy(np.repeat(v[None], len(hh), 0), hh)
        integral = np.exp(-E).sum() * (g[1] - g[0]) ** 2
        assert rbm.free_energy(v[None])[0] == pytest.approx(-math.log(integral), abs=1e-9)
    # the statistics with E[h | v] = c + v W give the gradient of the exact log-likelihood
    X = tiny_data(n=6, n_visible=4)
    F = rbm.free_energy(Vs)
    pv = np.exp(-(F - F.min()))
    grads = [p - n for p, n in zip(rbm.statistics(X, rbm.hidden_mean(X)),
                                   rbm.statistics(Vs, rbm.hidden_mean(Vs), weights=pv / pv.sum()))]
    for grad, numeric in zip(grads, central_differences(lambda: rbm.exact_log_likelihood(X), (rbm.W, rbm.b, rbm.c))):
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


# -- (b) CD-k approaches the exact gradient in expectation ---------------------------------------------------


def expected_cd(rbm, X, k):
    """The exact expectation of the CD-k estimate and the per-entry variance of one chain's negative statistic.

    The chain from data row v0: h_0 ~ p(h | v0), then k times v ~ p(v | h), h ~ p(h | v). Its v_k has the
    distribution q_k = e_{v0} T^k with the Gibbs transition T[v, v'] = sum_h p(h | v) p(v' | h), from the
    joint table. The estimate's negative statistic is s(v_k) = (v_k E[h | v_k]^T, v_k, E[h | v_k]).
    """
    Vs, Hs, P = joint_table(rbm.W, rbm.b, rbm.c)
    T = (P / P.sum(axis=1, keepdims=True)) @ (P / P.sum(axis=0, keepdims=True)).T  # (2**V, 2**V), rows sum to 1
    index = (X @ (2 ** np.arange(V - 1, -1, -1))).astype(int)
    q = np.linalg.matrix_power(T, k)[index]  # (N, 2**V): the law of v_k for each data row
    ph = rbm.hidden_mean(Vs)
    s = np.concatenate([np.einsum("ai,aj->aij", Vs, ph).reshape(len(Vs), -1), Vs, ph], axis=1)  # s(v) per state
    mean = q @ s  # (N, n_stats): each chain's expected statistic
    var = q @ s ** 2 - mean ** 2
    pos = np.concatenate([a.ravel() for a in rbm.statistics(X, rbm.hidden_mean(X))])
    return pos - mean.mean(axis=0), var.sum(axis=0) / len(X) ** 2  # E[estimate], Var per chain-average


def flat(grads):
    return np.concatenate([g.ravel() for g in grads])


def test_cd_k_approaches_the_exact_gradient_in_expectation():
    """Tolerance: 5 standard errors of the average over chains, with the standard error computed exactly
    from the chain's law (no estimate of it); over the 53 entries a false alarm has probability < 1e-4.
    The average's remaining distance from the exact gradient is CD-k's bias, computed exactly too."""
    rbm, X = tiny_rbm(scale=1.5), tiny_data()
    exact = flat(p - n for p, n in zip(*reference_gradient(rbm.W, rbm.b, rbm.c, X)))
    reps = 2000  # chains per data row
    Xr = np.repeat(X, reps, axis=0)
    biases = {}
    for k in (1, 50):
        mean_k, var_k = expected_cd(rbm, Xr, k)
        se = np.sqrt(var_k)
        estimate = flat(rbm.cd_gradient(Xr, k=k))
        assert np.all(np.abs(estimate - mean_k) < 5 * se), f"CD-{k}: the code's average is not the chain's expectation"
        biases[k] = np.abs(mean_k - exact).max()
        if k == 1:
            assert np.abs(estimate - exact).max() > 10 * se.max()  # CD-1's bias is real and this test can see it
        else:
            assert np.all(np.abs(estimate - exact) < 5 * se + biases[k])
    assert biases[50] < 1e-3 * np.abs(exact).max() < biases[1]  # the bias vanishes as k grows


def negative_phase_from(rbm, chains):
    """The exact expectation and standard error of the negative statistic of one PCD-1 update whose chains
    start at the hidden states ``chains`` (N, H): each chain draws v ~ p(v | h) and contributes
    s(v) = (v E[h | v]^T, v, E[h | v]). p(v | h) comes from the joint table."""
    Vs, Hs, P = joint_table(rbm.W, rbm.b, rbm.c)
    cond_v = P / P.sum(axis=0, keepdims=True)  # p(v | h), columns h
    rows = (chains @ (2 ** np.arange(H - 1, -1, -1))).astype(int)  # each chain's h in Hs
    ph = rbm.hidden_mean(Vs)
    s = np.concatenate([np.einsum("ai,aj->aij", Vs, ph).reshape(len(Vs), -1), Vs, ph], axis=1)
    q = cond_v[:, rows].T  # (N, 2**V): the law of each chain's v
    mean = q @ s
    var = q @ s ** 2 - mean ** 2
    return mean.mean(axis=0), np.sqrt(var.sum(axis=0)) / len(chains)


def test_pcd_starts_each_update_where_the_chains_are():
    """Set the chains to a known state; the update's negative phase must be the one of chains started
    there (within 5 exact standard errors, 53 entries), and that of the state it leaves the next time.
    Restarted at the data instead, the expectation would be more than 10 standard errors away."""
    rbm, X = tiny_rbm(scale=2.0), np.repeat(tiny_data(), 1000, axis=0)  # 12000 chains
    pos, _ = reference_gradient(rbm.W, rbm.b, rbm.c, X)
    restart, _ = expected_cd(rbm, X, 1)  # E[CD-1 estimate]: chains started at h_0 ~ p(h | data)
    rbm.chains = np.zeros((len(X), H))  # the known state: every hidden unit off (sklearn's PCD start)
    for _ in range(2):
        start = rbm.chains.copy()
        mean, se = negative_phase_from(rbm, start)
        negative = flat(pos) - flat(rbm.cd_gradient(X, k=1, persistent=True))
        assert np.all(np.abs(negative - mean) < 5 * se)
        assert np.abs(flat(pos) - restart - mean).max() > 10 * se.max()  # a restart would be seen
        assert rbm.chains.shape == start.shape and not np.array_equal(rbm.chains, start)  # and they moved on


def test_pcd_chains_sample_the_model():
    """After 30 updates with frozen weights the chains' visible states are samples of p(v). The weights
    make one Gibbs step from the data far from p(v): restarted chains would fail the bound."""
    rbm = tiny_rbm(scale=2.0)
    X = np.repeat(tiny_data(), 1000, axis=0)  # 12000 persistent chains
    for _ in range(30):  # weights frozen: the chains are just run
        rbm.cd_gradient(X, k=1, persistent=True)
    v = rbm.sample_visible(rbm.visible_mean(rbm.chains))
    Vs, _, P = joint_table(rbm.W, rbm.b, rbm.c)
    pv = P.sum(axis=1)
    counts = np.bincount((v @ (2 ** np.arange(V - 1, -1, -1))).astype(int), minlength=len(Vs)) / len(v)
    # sampling noise alone: E|count - p| ~ sqrt(2 p (1 - p) / (pi n)); allow twice the expected total variation
    expected_tv = 0.5 * np.sqrt(2 * pv * (1 - pv) / (np.pi * len(v))).sum()
    assert 0.5 * np.abs(counts - pv).sum() < 2 * expected_tv
    # restarted at the data every update, v would be two Gibbs steps from it: law e_{v0} T^2 (T as in
    # expected_cd), whose exact distance from p(v) is 0.108 here, 2.5 times the bound (0.043)
    T = (P / P.sum(axis=1, keepdims=True)) @ (P / P.sum(axis=0, keepdims=True)).T
    index = (X @ (2 ** np.arange(V - 1, -1, -1))).astype(int)
    restarted = np.linalg.matrix_power(T, 2)[index].mean(axis=0)
    assert 0.5 * np.abs(restarted - pv).sum() > 2 * (2 * expected_tv)


# -- (c) the exact log-likelihood rises during CD-1 training -----------------------------------------------


@pytest.mark.parametrize("persistent", [False, True])
def test_exact_log_likelihood_rises_during_cd1_training(persistent):
    rng = np.random.default_rng(5)
    prototypes = rng.integers(0, 2, size=(3, 10))
    X = np.abs(prototypes[rng.integers(0, 3, 60)] - (rng.random((60, 10)) < 0.05)).astype(np.float64)
    rbm = RBM(10, 6, seed=2, dtype=np.float64)
    lls = [rbm.exact_log_likelihood(X)]
    rbm.fit(X, 40, batch_size=10, lr=0.1, k=1, persistent=persistent,
            callback=lambda epoch, r: lls.append(r.exact_log_likelihood(X)))
    # start: log(2**-10) = -6.93 per row; a model of 3 prototypes with 5% noise per bit reaches about -3.1
    assert lls[0] == pytest.approx(-10 * math.log(2), abs=0.01)
    assert lls[-1] > lls[0] + 2.5
    quarters = [lls[i] for i in (0, 10, 20, 40)]
    assert quarters == sorted(quarters)
    assert sum(b > a for a, b in zip(lls, lls[1:])) >= 0.7 * (len(lls) - 1)


# -- an outside reference: scikit-learn's BernoulliRBM ---------------------------------------------------------


@pytest.fixture(scope="module")
def binary_digits():
    return (data.load("digits", dtype=np.float64).X_train > 0.5).astype(np.float64)


def with_sklearn_weights(sk):
    rbm = RBM(sk.components_.shape[1], sk.components_.shape[0], dtype=np.float64)
    rbm.W[...], rbm.b[...], rbm.c[...] = sk.components_.T, sk.intercept_visible_, sk.intercept_hidden_
    return rbm


def test_pseudo_likelihood_is_what_sklearn_score_samples_estimates(binary_digits):
    from sklearn.neural_network import BernoulliRBM

    X = binary_digits
    sk = BernoulliRBM(n_components=16, learning_rate=0.05, batch_size=20, n_iter=3, random_state=0).fit(X)
    rbm = with_sklearn_weights(sk)
    # F(v) = -b.v - sum_j log(1 + exp(c_j + (v W)_j)), written here from sklearn's public weights
    F = -(X @ sk.intercept_visible_) - np.logaddexp(0, sk.intercept_hidden_ + X @ sk.components_.T).sum(axis=1)
    np.testing.assert_allclose(rbm.free_energy(X), F, rtol=1e-12)
    # score_samples flips one random bit per row: an unbiased, noisy estimate of our exact sum over all bits
    samples = []
    for seed in range(40):
        sk.random_state = seed
        samples.append(sk.score_samples(X))
    samples = np.concatenate(samples)
    se = samples.std() / math.sqrt(len(samples))
    assert abs(samples.mean() - rbm.pseudo_log_likelihood(X)) < 5 * se
    ours = [rbm.pseudo_log_likelihood(X, rng=np.random.default_rng(s)) for s in range(40)]  # the same estimator
    assert abs(np.mean(ours) - rbm.pseudo_log_likelihood(X)) < 5 * se


def test_pcd_matches_sklearn_bernoulli_rbm_after_the_same_updates(binary_digits):
    """Both run PCD-1 with the same learning rate, batch size, epochs, N(0, 0.01^2) start and batch order
    (sklearn does not shuffle); they differ in their random streams and in where the persistent chains
    start (sklearn: h = 0; here h ~ p(h | first batch)). Scored by the same exact pseudo-likelihood
    (nats per image). Measured over seeds 0-3: ours -21.50 .. -21.12, sklearn's -21.28 .. -21.09 (from
    -44.4 at the start), the largest difference between the two 0.41. Tolerance 0.6 nats, 2.5% of the
    23 nats learned: tight enough to see a real difference (a learning rate 20% lower, or 2 epochs
    fewer, costs 1.3 nats)."""
    from sklearn.neural_network import BernoulliRBM

    X = binary_digits
    sk = BernoulliRBM(n_components=32, learning_rate=0.05, batch_size=20, n_iter=10, random_state=0).fit(X)
    theirs = with_sklearn_weights(sk).pseudo_log_likelihood(X)
    rbm = RBM(64, 32, seed=0, dtype=np.float64)
    start = rbm.pseudo_log_likelihood(X)
    history = rbm.fit(X, 10, batch_size=20, lr=0.05, k=1, persistent=True, shuffle=False)
    ours = history["pseudo_log_likelihood"][-1]
    assert ours == pytest.approx(rbm.pseudo_log_likelihood(X))
    assert ours > start + 10  # both learned a lot ...
    assert abs(ours - theirs) < 0.6  # ... and the same amount


# -- input checks ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call,error,match", [
    (lambda: RBM(0, 3), ValueError, "n_visible must be a positive int"),
    (lambda: RBM(3, 3, hidden="poisson"), ValueError, "hidden must be one of"),
    (lambda: RBM(3, 3, dtype=np.float64).fit(np.full((2, 3), 2.0)), ValueError, r"values must lie in \[0, 1\]"),
    (lambda: RBM(3, 3, dtype=np.float64).fit(np.zeros((2, 4))), ValueError, r"expected shape \(N, 3\)"),
    (lambda: RBM(3, 3, dtype=np.float64).fit(np.zeros((2, 3)), k=0), ValueError, "k must be a positive int"),
    (lambda: RBM(3, 3, dtype=np.float64).pseudo_log_likelihood(np.full((2, 3), 0.5)), ValueError, "binary"),
    (lambda: RBM(21, 2, dtype=np.float64).exact_log_likelihood(np.zeros((1, 21))), ValueError, "V <= 20"),
    (lambda: pretrain(zoo.shallow_ae(8, 4, activation="relu"), np.zeros((4, 8), np.float32)), ValueError,
     "activations must be"),
    (lambda: pretrain(zoo.stacked_ae(8, (4, 2)), np.zeros((4, 8), np.float32)), ValueError, "Sigmoid"),
])
def test_bad_input_gets_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def small():
    return RBM(3, 2, seed=0, dtype=np.float64)


@pytest.mark.parametrize("call, match", [
    (lambda r: r.cd_gradient(np.zeros((2, 3)), k=0), r"RBM.cd_gradient: k must be a positive int, got 0"),
    (lambda r: r.gibbs(np.zeros((2, 2)), k=0), r"RBM.gibbs: k must be a positive int, got 0"),
    (lambda r: r.free_energy(np.zeros((2, 4))), r"RBM.free_energy: expected v of shape \(N, 3\), got shape \(2, 4\)"),
    (lambda r: r.free_energy([0, 1, 0]), r"RBM.free_energy: expected v of shape \(N, 3\), got list"),
    (lambda r: r.hidden_mean(np.zeros(3)), r"RBM.hidden_mean: expected v of shape \(N, 3\), got shape \(3,\)"),
    (lambda r: r.visible_mean(np.zeros((2, 3))), r"RBM.visible_mean: expected h of shape \(N, 2\), got shape"),
    (lambda r: r.energy(np.zeros((2, 3)), np.zeros((2, 3))), r"RBM.energy: expected h of shape \(N, 2\)"),
    (lambda r: r.cd_gradient(np.zeros((2, 4))), r"RBM.cd_gradient: expected v0 of shape \(N, 3\)"),
    (lambda r: r.fit(np.zeros((2, 3)), lr="0.1"), r"RBM.fit: lr must be a finite number in \(0, inf\), got '0.1'"),
    (lambda r: r.fit(np.zeros((2, 3)), lr=True), r"RBM.fit: lr must be a finite number in \(0, inf\), got True"),
    (lambda r: r.fit(np.zeros((2, 3)), lr=float("inf")), r"lr must be a finite number in \(0, inf\), got inf"),
    (lambda r: r.fit(np.zeros((2, 3)), momentum="a"), r"RBM.fit: momentum must be a finite number in \[0, 1\), got 'a'"
     ),
    (lambda r: r.fit(np.zeros((2, 3)), momentum=5), r"momentum must be a finite number in \[0, 1\), got 5"),
    (lambda r: r.fit(np.zeros((2, 3)), weight_decay=-1), r"weight_decay must be a finite number in \[0, inf\), got -1"),
    (lambda r: r.fit(np.zeros((2, 3)), epochs=2.0), r"RBM.fit: epochs must be a positive int, got 2.0"),
    (lambda r: r.update(np.zeros((2, 3)), lr=0), r"RBM.update: lr must be a finite number in \(0, inf\), got 0"),
    (lambda r: r.update(np.zeros((2, 3)), lr=0.1, momentum=1.0), r"RBM.update: momentum .* \[0, 1\), got 1.0"),
])
def test_bad_arguments_get_one_line_before_any_work(call, match):
    rbm = small()
    before = (rbm.W.copy(), rbm.b.copy(), rbm.c.copy(), rbm.rng.bit_generator.state)
    with pytest.raises(ValueError, match=match) as err:
        call(rbm)
    assert "\n" not in str(err.value)
    after = (rbm.W, rbm.b, rbm.c, rbm.rng.bit_generator.state)
    assert all(np.array_equal(a, b) for a, b in zip(before[:3], after[:3])) and before[3] == after[3]  # untouched
    assert rbm.chains is None and rbm._velocity is None


@pytest.mark.parametrize("init_std, match", [
    (True, "got True"), (-1, "got -1"), (float("nan"), "got nan"), ("0.1", "got '0.1'")])
def test_init_std_is_a_number_at_least_zero(init_std, match):
    with pytest.raises(ValueError, match=r"RBM: init_std must be a finite number in \[0, inf\), " + match):
        RBM(3, 2, init_std=init_std)


def test_numpy_scalars_are_numbers_too():
    rbm = RBM(np.int64(3), np.int32(2), init_std=np.float32(0.1), seed=0, dtype=np.float64)
    assert rbm.W.shape == (3, 2) and 0 < rbm.W.std()
    X = tiny_data(n=4, n_visible=3)
    history = rbm.fit(X, np.int64(2), batch_size=np.int64(2), lr=np.float32(0.1), k=np.int64(1),
                      momentum=np.float64(0.5), weight_decay=np.float32(1e-4))
    assert len(history["reconstruction_error"]) == 2


# -- the deep belief autoencoder -------------------------------------------------------------------------------


def test_pretrain_unrolls_the_rbms_with_tied_initial_weights():
    X = data.load("digits").X_train[:200]
    model = zoo.dbn_ae(64, (32, 16, 4), seed=0)
    levels = pretrain(model, X, epochs=2, batch_size=20, seed=0)
    assert [r.hidden for r, _ in levels] == ["bernoulli", "bernoulli", "gaussian"]
    dense_enc, dense_dec = model.encoder.layers[::2], model.decoder.layers[::2]
    for (rbm, history), enc, dec in zip(levels, dense_enc, reversed(dense_dec)):
        np.testing.assert_array_equal(enc.W.value, rbm.W.astype(np.float32))
        np.testing.assert_array_equal(enc.b.value, rbm.c.astype(np.float32))
        np.testing.assert_array_equal(dec.W.value, rbm.W.T.astype(np.float32))
        np.testing.assert_array_equal(dec.b.value, rbm.b.astype(np.float32))
        assert len(history["reconstruction_error"]) == 2
    # the unrolled encoder computes the RBMs' hidden means, the decoder their visible means
    x = X[:5].astype(np.float64)
    h = x
    for rbm, _ in levels:
        h = rbm.hidden_mean(h)
    np.testing.assert_allclose(model.encode(X[:5]), h, rtol=1e-4, atol=1e-5)
    for rbm, _ in reversed(levels):
        h = rbm.visible_mean(h)
    np.testing.assert_allclose(model.reconstruct(X[:5]), h, rtol=1e-4, atol=1e-5)


def test_visible_probs_keeps_the_chain_visible_units_as_probabilities():
    rbm = tiny_rbm()
    h = rbm.sample_hidden(rbm.hidden_mean(tiny_data()))
    v, ph, _ = rbm.gibbs(h, k=1, visible_probs=True)
    np.testing.assert_array_equal(v, rbm.visible_mean(h))  # no draw: the probabilities themselves
    np.testing.assert_array_equal(ph, rbm.hidden_mean(v))
    v_drawn, _, _ = rbm.gibbs(h, k=1)
    assert set(np.unique(v_drawn)) <= {0.0, 1.0}  # the default draws 0/1 states
