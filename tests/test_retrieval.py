"""tinyae.retrieval against naive references: Hamming distances bit by bit, searches by full sorting,
precision@k on a case worked by hand, and one-line errors for bad input."""

import numpy as np
import pytest

from tinyae import retrieval, zoo
from tinyae.retrieval import (
    binary_codes,
    hamming_distances,
    hamming_search,
    nearest_neighbors,
    pack_bits,
    popcount,
    popcount_table,
    precision_at_k,
    unpack_bits,
)


def naive_hamming(A, B):
    """Bit-by-bit count of differing positions, two Python loops (the ground truth)."""
    return np.array([[sum(int(a != b) for a, b in zip(qa, xb)) for xb in B] for qa in A])


def naive_search(D, k):
    """Sort each row by (distance, index): the k nearest, ties by the lower index."""
    idx = np.array([sorted(range(len(row)), key=lambda j: (row[j], j))[:k] for row in D])
    return idx, np.take_along_axis(D, idx, axis=1)


@pytest.mark.parametrize("n_bits", [1, 7, 8, 30, 64, 65, 130])
def test_hamming_distances_match_the_bit_by_bit_count(n_bits):
    rng = np.random.default_rng(n_bits)
    A = rng.random((7, n_bits)) < 0.5
    B = rng.random((11, n_bits)) < 0.5
    B[0] = A[0]  # distance 0 occurs
    B[1] = ~A[1]  # distance n_bits occurs
    D = hamming_distances(pack_bits(A), pack_bits(B))
    np.testing.assert_array_equal(D, naive_hamming(A, B))
    assert D[0, 0] == 0 and D[1, 1] == n_bits


def test_popcount_table_and_ufunc_agree_with_python():
    rng = np.random.default_rng(0)
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        x = rng.integers(0, np.iinfo(dtype).max, size=200, dtype=dtype, endpoint=True)
        x[:2] = (0, np.iinfo(dtype).max)
        expected = np.array([bin(int(v)).count("1") for v in x])
        np.testing.assert_array_equal(popcount_table(x), expected)
        np.testing.assert_array_equal(popcount(x), expected)


def test_pack_and_unpack_round_trip():
    bits = np.random.default_rng(1).random((5, 30)) < 0.5
    packed = pack_bits(bits)
    assert packed.shape == (5, 4) and packed.dtype == np.uint8
    np.testing.assert_array_equal(unpack_bits(packed, 30), bits)
    np.testing.assert_array_equal(pack_bits(bits.astype(np.int64)), packed)  # 0/1 ints pack the same


def test_binary_codes_threshold_a_sigmoid_code_at_one_half():
    codes = np.array([[0.1, 0.5, 0.51, 0.99]])
    np.testing.assert_array_equal(binary_codes(codes), [[False, False, True, True]])
    np.testing.assert_array_equal(binary_codes(codes, threshold=0.05), [[True, True, True, True]])
    for threshold in (np.float32(0.5), np.float64(0.5), np.int64(0)):  # NumPy scalars are numbers too
        np.testing.assert_array_equal(binary_codes(codes, threshold=threshold), codes > threshold)


def test_hamming_search_matches_sorting_with_ties_by_index():
    rng = np.random.default_rng(2)
    A = rng.random((9, 12)) < 0.5
    B = rng.random((300, 12)) < 0.5  # 12 bits, 300 codes: many ties at every distance
    D = naive_hamming(A, B)
    for k in (1, 10, 300):
        idx, dist = hamming_search(pack_bits(A), pack_bits(B), k)
        want_idx, want_dist = naive_search(D, k)
        np.testing.assert_array_equal(idx, want_idx)
        np.testing.assert_array_equal(dist, want_dist)


def test_nearest_neighbors_matches_sorting_the_exact_distances():
    rng = np.random.default_rng(3)
    Q, X = rng.normal(size=(13, 5)), rng.normal(size=(80, 5))
    X[7] = X[3]  # an exact tie: index 3 must come first
    Q[0] = X[3]
    D = ((Q[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    idx, dist = nearest_neighbors(Q, X, k=6)
    want_idx, want_dist = naive_search(D, 6)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(dist, want_dist, atol=1e-12)
    assert list(idx[0, :2]) == [3, 7]


def test_searches_in_blocks_give_the_same_answer(monkeypatch):
    rng = np.random.default_rng(4)
    Q, X = rng.normal(size=(20, 4)), rng.normal(size=(50, 4))
    A, B = pack_bits(rng.random((20, 10)) < 0.5), pack_bits(rng.random((50, 10)) < 0.5)
    whole = nearest_neighbors(Q, X, 5), hamming_search(A, B, 5)
    monkeypatch.setattr(retrieval, "_BLOCK", 150)  # 3 query rows per block
    blocked = nearest_neighbors(Q, X, 5), hamming_search(A, B, 5)
    for w, b in zip(whole, blocked):
        np.testing.assert_array_equal(w[0], b[0])
        np.testing.assert_array_equal(w[1], b[1])


def test_precision_at_k_on_a_hand_made_case():
    db_labels = np.array([0, 0, 1, 1, 2])
    retrieved = np.array([[0, 1, 2],    # query label 0: hits 0, 1 -> 2/3
                          [4, 2, 3],    # query label 1: hits 2, 3 -> 2/3
                          [4, 0, 1]])   # query label 2: hit 4     -> 1/3
    q_labels = np.array([0, 1, 2])
    np.testing.assert_allclose(precision_at_k(retrieved, q_labels, db_labels, per_query=True), [2 / 3, 2 / 3, 1 / 3])
    assert precision_at_k(retrieved, q_labels, db_labels) == pytest.approx(5 / 9)
    assert precision_at_k(retrieved, q_labels, db_labels, k=1) == pytest.approx(2 / 3)  # first column: 0, 4, 4


@pytest.mark.parametrize("call,match", [
    (lambda: nearest_neighbors(np.zeros((2, 3)), np.zeros((5, 4))), "length 3 but the database 4"),
    (lambda: nearest_neighbors(np.zeros(3), np.zeros((5, 3))), "non-empty 2-D array"),
    (lambda: nearest_neighbors(np.zeros((2, 3)), np.zeros((5, 3)), k=6), "k must be an int from 1 to .* 5"),
    (lambda: nearest_neighbors(np.full((2, 3), np.nan), np.zeros((5, 3))), "NaN or inf"),
    (lambda: hamming_distances(np.zeros((2, 4)), np.zeros((3, 4), np.uint8)), "packed bits.*uint8.*float64"),
    (lambda: hamming_search(np.zeros((2, 4), np.uint8), np.zeros((3, 5), np.uint8)), "4 bytes .* database 5"),
    (lambda: pack_bits(np.array([[0, 2, 1]])), "only 0 and 1"),
    (lambda: unpack_bits(np.zeros((2, 4), np.uint8), 40), r"n_bits .* \(25 to 32\)"),
    (lambda: binary_codes(np.zeros((2, 3)), threshold=None), "threshold must be a finite number"),
    (lambda: precision_at_k(np.zeros((2, 3), int), np.zeros(3), np.zeros(5)), r"query_labels must have shape \(2,\)"),
    (lambda: precision_at_k(np.full((2, 3), 9), np.zeros(2), np.zeros(5)), "outside the database of 5"),
    (lambda: precision_at_k(np.zeros((2, 3)), np.zeros(2), np.zeros(5)), "2-D int array"),
    (lambda: precision_at_k(np.zeros((2, 3), int), np.zeros(2), np.zeros(5), k=5),
     r"k must be an int from 1 to the number of retrieved columns 3, got 5"),
    (lambda: binary_codes(np.zeros((2, 3)), threshold=np.bool_(True)), "threshold must be a finite number"),
    (lambda: binary_codes(np.zeros((2, 3)), threshold=np.float32("inf")), "threshold must be a finite number"),
])
def test_bad_input_gets_one_line_error(call, match):
    with pytest.raises((ValueError, TypeError), match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_hashing_ae_noise_acts_before_the_code_sigmoid_in_training_only():
    model = zoo.hashing_ae(16, sizes=(8,), n_bits=5, noise_std=3.0, seed=0)
    names = [type(layer).__name__ for layer in model.encoder.layers]
    assert names[-3:] == ["Dense", "GaussianNoise", "Sigmoid"]
    x = np.random.default_rng(0).uniform(0, 1, size=(4, 16)).astype(np.float32)
    h = model.encode(x)
    np.testing.assert_array_equal(h, model.encode(x))  # eval mode: no noise, deterministic
    assert h.shape == (4, 5) and ((h > 0) & (h < 1)).all()
    noisy = model.encoder.forward(x, training=True)
    assert not np.array_equal(noisy, h)


def test_noise_before_the_code_sigmoid_pushes_the_trained_code_to_0_and_1():
    """The semantic-hashing claim, measured: trained with noise (std 4) before the sigmoid, far fewer
    code values end between 0.1 and 0.9 than in the same network trained without it."""
    from tinyae import data
    from tinyae.optim import Adam
    from tinyae.train import encode, fit

    X = data.load("digits", limit=400).X_train
    middle = {}
    for std in (4.0, 0.0):
        model = zoo.hashing_ae(64, (32,), 16, noise_std=std, seed=0)
        fit(model, X, epochs=8, batch_size=32, optimizer=Adam(model.params(), lr=1e-2), verbose=0)
        H = encode(model, X)
        middle[std] = float(((H > 0.1) & (H < 0.9)).mean())
    # measured: 0.19 with noise, 0.56 without
    assert middle[4.0] < 0.3 and middle[4.0] < middle[0.0] / 2, middle
