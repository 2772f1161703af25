"""Retrieval with autoencoder codes: nearest neighbours on float codes, binary codes and Hamming search.

    idx, d2 = nearest_neighbors(Q, DB, k=10)              # exact search on float codes (squared Euclidean)
    bits = binary_codes(sigmoid_codes)                    # (N, B) bool: code > 0.5
    packed = pack_bits(bits)                              # (N, ceil(B / 8)) uint8: B bits in B/8 bytes
    idx, dh = hamming_search(pack_bits(q_bits), packed, k=10)
    precision_at_k(idx, query_labels, database_labels)    # fraction of retrieved items sharing the query's label

The idea (image search, Hinton & Salakhutdinov 2006; semantic hashing, Salakhutdinov & Hinton 2009): an
encoder maps each image to a short code, and similar images get nearby codes, so searching the codes
finds similar images. If the code is a sigmoid layer pushed to 0 or 1 during training, thresholding it
at 0.5 gives a binary code: B bits stored in B/8 bytes, and the distance between two codes is the
Hamming distance, the number of bits in which they differ:

    d_H(a, b) = popcount(a XOR b)        XOR marks the differing bits, popcount counts them

One XOR and one popcount compare 64 bits at once, so comparing binary codes is cheap, and the codes
are 32 times smaller than float32 codes of the same length.

Ties: Hamming distances are small integers, so many database items tie; every search here breaks ties
by the database index (the lower index first), so results are deterministic. Float searches do the same.

A sigmoid code is pushed towards 0/1 by adding Gaussian noise to its input (the pre-activation) while
training: ``GaussianNoise(std, clip=None)`` just before the code's ``Sigmoid`` (see
``tinyae.zoo.hashing_ae``). To carry information through the noise, the encoder must drive the
pre-activations far from 0, where the sigmoid saturates; in eval mode the noise is off.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinyae import backend

# popcount of every byte value: POPCOUNT_TABLE[b] = number of 1 bits in b (0 <= b < 256)
POPCOUNT_TABLE = np.array([bin(b).count("1") for b in range(256)], dtype=np.uint8)

_BLOCK = 1 << 22  # query rows per block are chosen so that a block's (rows, N) distance matrix has ~4M entries


# --------------------------------------------------------------------------------------------------
# Checks: one-line errors before any work
# --------------------------------------------------------------------------------------------------


def _host(x, name: str, where: str) -> np.ndarray:
    """x as a NumPy array: searching runs on the host (codes made on a GPU are copied here first)."""
    try:
        return backend.to_numpy(x)
    except Exception as err:  # noqa: BLE001 - any failure to make an array is the user's input
        raise TypeError(f"{where}: {name} must be an array, got {type(x).__name__}") from err


def _float_codes(x, name: str, where: str) -> np.ndarray:
    a = _host(x, name, where)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{where}: {name} must be a non-empty 2-D array (items, code length), got shape {a.shape}")
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{where}: {name} must hold numbers, got dtype {a.dtype}")
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{where}: {name} holds NaN or inf")
    return a


def _packed(x, name: str, where: str) -> np.ndarray:
    a = _host(x, name, where)
    if a.dtype != np.uint8 or a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{where}: {name} must be packed bits, a non-empty 2-D uint8 array (items, bytes) "
                         f"as pack_bits returns, got dtype {a.dtype} and shape {a.shape}")
    return a


def _float_pair(queries, database, where: str):
    Q, X = _float_codes(queries, "queries", where), _float_codes(database, "database", where)
    if Q.shape[1] != X.shape[1]:
        raise ValueError(f"{where}: queries have codes of length {Q.shape[1]} but the database {X.shape[1]}")
    return Q, X


def _packed_pair(queries, database, where: str):
    Q, X = _packed(queries, "queries", where), _packed(database, "database", where)
    if Q.shape[1] != X.shape[1]:
        raise ValueError(f"{where}: queries have {Q.shape[1]} bytes per code but the database {X.shape[1]}")
    return Q, X


def _k(k, n: int, where: str, limit: str = "the database size") -> int:
    """k as an int in [1, n]; ``limit`` says what n is in the error."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"{where}: k must be an int from 1 to {limit} {n}, got {k!r}")
    return int(k)


def _rows_per_block(n: int) -> int:
    return max(1, _BLOCK // max(n, 1))


# --------------------------------------------------------------------------------------------------
# Exact search on float codes
# --------------------------------------------------------------------------------------------------


def squared_distances(queries, database) -> np.ndarray:
    """All squared Euclidean distances: D[i, j] = |q_i - x_j|^2, shape (Q, N).

    Expanded as |q|^2 + |x|^2 - 2 q.x, one matrix product for all pairs (fast, but it can come out a
    little below 0 by rounding for near-equal vectors, so it is clipped at 0).
    """
    return _squared_distances(*_float_pair(queries, database, "squared_distances"))


def _squared_distances(Q, X):
    d2 = (Q * Q).sum(1)[:, None] + (X * X).sum(1)[None, :] - 2 * (Q @ X.T)  # (Q, N)
    return np.maximum(d2, 0, out=d2)


def nearest_neighbors(queries, database, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-nearest-neighbour search by Euclidean distance on float codes.

    queries  -- (Q, d) codes of the query items
    database -- (N, d) codes of the items searched
    Returns (indices, squared distances), each (Q, k): row i lists the k database items nearest to
    query i, nearest first (ties: the lower database index first).

    Brute force over all pairs, in blocks of queries so memory stays bounded: for each block the
    (rows, N) distance matrix, then ``np.partition`` finds each row's k-th smallest distance (linear
    time) and only the entries up to it are sorted.
    """
    Q, X = _float_pair(queries, database, "nearest_neighbors")
    k = _k(k, len(X), "nearest_neighbors")

    def nearest(a, b):  # queries a..b-1
        d2 = _squared_distances(Q[a:b], X)  # (rows, N)
        return _k_smallest(d2, k, _kth_smallest(d2, k))

    return _in_blocks(len(Q), len(X), k, np.result_type(Q.dtype, X.dtype), nearest)


def _in_blocks(n_queries: int, n_items: int, k: int, dtype, nearest):
    """Run ``nearest(a, b)`` -> (indices, distances) of queries a..b-1 over blocks of queries; stack them."""
    idx = np.empty((n_queries, k), dtype=np.int64)
    dist = np.empty((n_queries, k), dtype=dtype)
    step = _rows_per_block(n_items)
    for a in range(0, n_queries, step):
        b = min(a + step, n_queries)
        idx[a:b], dist[a:b] = nearest(a, b)
    return idx, dist


def _k_smallest(d, k: int, kth) -> tuple[np.ndarray, np.ndarray]:
    """Per row of d (rows, N): the indices of the k smallest entries in order, ties by the lower index.

    kth -- (rows, 1) the k-th smallest value of each row. Every entry <= kth is a candidate (k of them,
    or more when the k-th value is tied); the candidates are sorted by (row, value), stably, so that
    among equal values the lower index (met first) comes first, and the first k of each row are kept.
    """
    rows, cols = np.divmod(np.flatnonzero(d <= kth), d.shape[1])  # row-major: within a row, cols rise
    vals = d[rows, cols]
    order = np.lexsort((vals, rows))  # by row, then value; lexsort is stable, so ties keep index order
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, np.arange(len(d)))  # where each row's candidates begin
    pick = starts[:, None] + np.arange(k)  # (rows, k): the first k of each row
    return cols[pick], vals[pick]


def _kth_smallest(d, k: int):
    """(rows, 1): the k-th smallest value of each row of d, by partial sorting (linear time)."""
    return np.partition(d, k - 1, axis=1)[:, k - 1:k]


def _kth_smallest_count(d, k: int, largest: int):
    """(rows, 1): the k-th smallest of each row of d, whose values are integers 0..largest, by counting.

    Count each row's entries at distance 0, 1, 2, ... until k are found: the k-th smallest is the radius
    of the smallest Hamming ball around the query that holds k database items. Near codes are found
    after a few passes, so this stops long before ``largest``.
    """
    kth = np.full((len(d), 1), largest, dtype=d.dtype)
    found = np.zeros(len(d), dtype=np.int64)  # items within radius r so far, per row
    todo = np.ones(len(d), dtype=bool)  # rows whose k-th smallest is not known yet
    for r in range(largest + 1):
        found += np.count_nonzero(d == r, axis=1)
        done = todo & (found >= k)
        kth[done, 0] = r
        todo &= ~done
        if not todo.any():
            break
    return kth


# --------------------------------------------------------------------------------------------------
# Binary codes
# --------------------------------------------------------------------------------------------------


def binary_codes(codes, threshold: float = 0.5) -> np.ndarray:
    """Binary codes from real codes: bits[i, j] = codes[i, j] > threshold, shape (N, B) bool.

    For a sigmoid code (values in (0, 1)) the threshold 0.5 is the sigmoid of 0: the bit is the sign of
    the pre-activation. A code trained with noise before its sigmoid sits near 0 and 1, so little is lost.
    """
    C = _float_codes(codes, "codes", "binary_codes")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not math.isfinite(threshold):
        raise ValueError(f"binary_codes: threshold must be a finite number, got {threshold!r}")
    return C > threshold


def pack_bits(bits) -> np.ndarray:
    """Pack (N, B) bits (bool or 0/1) into (N, ceil(B / 8)) uint8 bytes, 8 bits to a byte.

    The first bit of a code is the highest bit of its first byte (``np.packbits``'s order); a code
    whose length is not a multiple of 8 is padded with 0 bits, which never change a Hamming distance.
    """
    b = _host(bits, "bits", "pack_bits")
    if b.ndim != 2 or b.shape[0] == 0 or b.shape[1] == 0:
        raise ValueError(f"pack_bits: bits must be a non-empty 2-D array (items, bits), got shape {b.shape}")
    if b.dtype != np.bool_:
        if b.dtype.kind not in "iuf" or not np.isin(b, (0, 1)).all():
            raise ValueError("pack_bits: bits must be bool or hold only 0 and 1 (threshold a real code with "
                             "binary_codes first)")
        b = b.astype(np.bool_)
    return np.packbits(b, axis=1)


def unpack_bits(packed, n_bits: int) -> np.ndarray:
    """The inverse of ``pack_bits``: (N, n_bytes) uint8 -> (N, n_bits) bool."""
    P = _packed(packed, "packed", "unpack_bits")
    if isinstance(n_bits, bool) or not isinstance(n_bits, (int, np.integer)) or not (
            8 * P.shape[1] - 7 <= n_bits <= 8 * P.shape[1]):
        raise ValueError(f"unpack_bits: n_bits must be an int that needs {P.shape[1]} bytes "
                         f"({8 * P.shape[1] - 7} to {8 * P.shape[1]}), got {n_bits!r}")
    return np.unpackbits(P, axis=1, count=int(n_bits)).astype(np.bool_)


# --------------------------------------------------------------------------------------------------
# Hamming distance and search
# --------------------------------------------------------------------------------------------------


def popcount(x) -> np.ndarray:
    """The number of 1 bits in each element of an unsigned integer array (the same shape, uint8).

    The readable way: view the array as bytes and look each byte up in ``POPCOUNT_TABLE``, then add the
    bytes of each element. NumPy 2 has the same operation as one ufunc, ``np.bitwise_count`` (the CPU's
    popcount instruction); it is used when present, and tests check the two agree.
    """
    x = np.asarray(x)
    if x.dtype.kind != "u":
        raise TypeError(f"popcount: x must be an unsigned integer array, got dtype {x.dtype}")
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return popcount_table(x)


def popcount_table(x) -> np.ndarray:
    """``popcount`` by the byte lookup table (the reference, and the path on NumPy < 2)."""
    x = np.ascontiguousarray(x)
    counts = POPCOUNT_TABLE[x.view(np.uint8)]  # (..., itemsize * last) one count per byte
    return counts.reshape(*x.shape, x.dtype.itemsize).sum(-1, dtype=np.uint8)


def _words(P: np.ndarray) -> np.ndarray:
    """(N, n_bytes) uint8 -> (N, ceil(n_bytes / 8)) uint64: 64 bits to a word (zero bytes pad the end)."""
    n_words = -(-P.shape[1] // 8)
    padded = np.zeros((len(P), 8 * n_words), dtype=np.uint8)
    padded[:, :P.shape[1]] = P
    return padded.view(np.uint64)  # the byte order inside a word does not matter to a popcount


def hamming_distances(queries, database) -> np.ndarray:
    """All Hamming distances between packed binary codes: D[i, j] = popcount(q_i XOR x_j), (Q, N) int32.

    queries  -- (Q, n_bytes) uint8, as ``pack_bits`` returns
    database -- (N, n_bytes) uint8
    The bytes are grouped into 64-bit words, so a 30-bit code is one word and one pair costs one XOR
    and one popcount.
    """
    Qp, Xp = _packed_pair(queries, database, "hamming_distances")
    return _hamming(_words(Qp), _words(Xp)).astype(np.int32)


def _hamming(Qw, Xw):
    """(Q, W) and (N, W) uint64 words -> (Q, N) Hamming distances (uint8 for one word, else uint16)."""
    d = popcount(Qw[:, 0, None] ^ Xw[None, :, 0])  # (Q, N) uint8: the first 64 bits
    if Qw.shape[1] > 1:
        d = d.astype(np.uint16)  # up to 64 * W
        for w in range(1, Qw.shape[1]):
            d += popcount(Qw[:, w, None] ^ Xw[None, :, w])
    return d


def hamming_search(queries, database, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The k database codes nearest to each query in Hamming distance: (indices, distances), each (Q, k).

    queries  -- (Q, n_bytes) uint8 packed codes; database -- (N, n_bytes) uint8.
    Nearest first; ties (there are many: distances are integers 0..B) go to the lower database index.
    Brute force over all pairs in blocks of queries, like ``nearest_neighbors``, but each pair is one
    XOR and one popcount per 64 bits instead of d multiply-adds on floats, and because the distances
    are small integers each row's k-th smallest is found by counting, not by sorting.
    """
    Qp, Xp = _packed_pair(queries, database, "hamming_search")
    k = _k(k, len(Xp), "hamming_search")
    Qw, Xw = _words(Qp), _words(Xp)
    n_bits = 8 * Qp.shape[1]

    def nearest(a, b):  # queries a..b-1
        d = _hamming(Qw[a:b], Xw)  # (rows, N) integers 0..n_bits
        return _k_smallest(d, k, _kth_smallest_count(d, k, n_bits))

    return _in_blocks(len(Qp), len(Xp), k, np.int32, nearest)


# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------


def precision_at_k(retrieved, query_labels, database_labels, k: int | None = None, *,
                   per_query: bool = False):
    """Precision@k by label: the fraction of the k retrieved items whose label is the query's label.

        P@k = 1/Q sum_i  1/k sum_{j<k} [ label(retrieved[i, j]) == label(query i) ]

    retrieved       -- (Q, K) database indices, nearest first (as the searches return)
    query_labels    -- (Q,) labels of the queries
    database_labels -- (N,) labels of the database items
    k               -- score the first k of each row (default: all K columns)
    Returns the mean over queries (a float), or the (Q,) per-query precisions with ``per_query=True``.
    """
    R = _host(retrieved, "retrieved", "precision_at_k")
    yq = _host(query_labels, "query_labels", "precision_at_k")
    yd = _host(database_labels, "database_labels", "precision_at_k")
    if R.ndim != 2 or R.shape[0] == 0 or R.shape[1] == 0 or R.dtype.kind not in "iu":
        raise ValueError(f"precision_at_k: retrieved must be a non-empty 2-D int array (queries, k) of database "
                         f"indices, got dtype {R.dtype} and shape {R.shape}")
    if yq.shape != (len(R),):
        raise ValueError(f"precision_at_k: query_labels must have shape ({len(R)},), one per row of retrieved, "
                         f"got {yq.shape}")
    if yd.ndim != 1:
        raise ValueError(f"precision_at_k: database_labels must be 1-D, got shape {yd.shape}")
    if R.min() < 0 or R.max() >= len(yd):
        raise ValueError(f"precision_at_k: retrieved holds indices outside the database of {len(yd)} labels "
                         f"(from {R.min()} to {R.max()})")
    k = R.shape[1] if k is None else _k(k, R.shape[1], "precision_at_k", "the number of retrieved columns")
    hits = yd[R[:, :k]] == yq[:, None]  # (Q, k)
    per = hits.mean(axis=1)
    return per if per_query else float(per.mean())
