"""The measuring pieces of the vision demos (whitening filters' scores, inpainting fills, colorization data),
checked against brute force or hand-made cases: a demo's table is only as good as these."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demos"))

import colorization  # noqa: E402
import inpainting  # noqa: E402
import whitening_natural_patches as whitening_demo  # noqa: E402


def test_orientation_is_one_for_an_edge_and_near_zero_for_a_round_blob():
    yy, xx = np.mgrid[0:8, 0:8]
    edge = (xx >= 4).astype(float)  # a vertical edge: every gradient points along x
    diagonal = np.cos(0.9 * (xx + yy))  # a diagonal grating
    blob = np.exp(-((yy - 3.5) ** 2 + (xx - 3.5) ** 2) / 4)  # round: gradients in every direction
    score = whitening_demo.orientation(np.stack([edge, diagonal, blob]))
    np.testing.assert_allclose(score[:2], 1.0, atol=1e-12)
    assert score[2] < 1e-12  # exactly symmetric: J is a multiple of the identity


def test_peak_frequency_finds_a_grating_s_cycles():
    xx = np.mgrid[0:8, 0:8][1]
    gratings = np.stack([np.cos(2 * np.pi * k * xx / 8) for k in (1, 2, 3)])  # k cycles per 8 pixels
    np.testing.assert_allclose(whitening_demo.peak_frequency(gratings), [1, 2, 3], atol=0.26)  # 32-point spectrum


def test_damage_wipes_exactly_the_mask():
    X = np.random.default_rng(0).uniform(0.1, 1, size=(50, 1, 8, 8))
    for kind, pixels in (("missing block", 9), ("dark cross-bar", 8)):
        damaged, mask = inpainting.damage(X, kind, np.random.default_rng(1))
        assert np.all(mask.reshape(50, -1).sum(axis=1) == pixels)
        np.testing.assert_array_equal(damaged[mask > 0], 0)
        np.testing.assert_array_equal(damaged[mask == 0], X[mask == 0])
    with pytest.raises(ValueError, match="kind must be one of"):
        inpainting.damage(X, "smudge", np.random.default_rng(0))


def test_nearest_image_fill_matches_brute_force():
    rng = np.random.default_rng(0)
    train = rng.uniform(size=(40, 1, 8, 8))
    X = rng.uniform(size=(7, 1, 8, 8))
    damaged, mask = inpainting.damage(X, "missing block", rng)
    got = inpainting.nearest_image_fill(damaged, mask, train, chunk=3)
    for i in range(len(X)):
        v = mask[i] == 0
        best = np.argmin([np.sum((damaged[i][v] - t[v]) ** 2) for t in train])
        np.testing.assert_allclose(got[i], np.where(v, damaged[i], train[best]))


def test_nearest_pixel_and_mean_fill():
    img = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
    mask = np.zeros_like(img)
    mask[0, 0, :, 3] = 1  # the last column wiped
    damaged = img * (1 - mask)
    filled = inpainting.nearest_pixel_fill(damaged, mask)
    np.testing.assert_array_equal(filled[0, 0, :, 3], img[0, 0, :, 2])  # its nearest visible pixel: one to the left
    train = np.stack([img[0], 3 * img[0]])
    np.testing.assert_array_equal(inpainting.mean_fill(damaged, mask, train)[0, 0, :, 3], 2 * img[0, 0, :, 3])
    assert inpainting.hidden_mse(filled, img, mask) == 1.0  # each wiped pixel is off by exactly 1


def test_shapes_are_coloured_by_kind_and_never_touch():
    from scipy.ndimage import binary_dilation

    grey, colour, shapes = colorization.make_shapes(60, np.random.default_rng(0))
    np.testing.assert_allclose(colour.sum(axis=1), grey[:, 0])  # every lit pixel in exactly one colour channel
    assert np.all(colour[:, 1] == 0)
    kinds = {k for _, k, _, _ in shapes}
    assert kinds == {"circle", "square"}
    for i, kind, m, area in shapes:
        lit = colour[i, 0 if kind == "circle" else 2][m]
        assert area == m.sum() and np.all(lit >= 0.5) and np.all(colour[i, 2 if kind == "circle" else 0][m] == 0)
    for i in range(60):
        masks = [m for j, _, m, _ in shapes if j == i]
        for a in range(len(masks)):
            for b in range(a + 1, len(masks)):
                assert not (binary_dilation(masks[a]) & masks[b]).any()


def test_shape_scores():
    m = np.zeros((16, 16), dtype=bool)
    m[2:5, 2:5] = True
    pred = np.zeros((1, 3, 16, 16))
    pred[0, 0][m], pred[0, 2][m] = 0.6, 0.3  # more red than blue
    (kind, area, r, b, right, purple), = colorization.score_shapes(pred, [(0, "square", m, 9)])
    assert (kind, area, right) == ("square", 9, False)
    np.testing.assert_allclose([r, b, purple], [0.6, 0.3, 0.5])
