"""Every figure function draws a valid, non-empty PNG from tiny data, without touching pyplot's global state."""

import numpy as np
import pytest

from tinyae import viz
from tinyae.train import History

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SHAPE = (1, 8, 8)


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert len(data) > 1000, f"{path.name} is only {len(data)} bytes"


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.uniform(size=(24, 64)).astype(np.float32)


@pytest.fixture
def labels():
    return np.arange(24) % 4


def test_reconstruction_grid(tmp_path, images):
    fig = viz.reconstruction_grid(images, {"a": images * 0.5, "b": images.reshape(-1, *SHAPE)}, SHAPE, n=6,
                                  path=tmp_path / "rec.png")
    assert_png(tmp_path / "rec.png")
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels[0] == "original" and labels[2].endswith("MSE 0.0000")
    assert fig.get_suptitle()


def test_reconstruction_grid_refuses_wrong_image_shape(images):
    with pytest.raises(ValueError, match="image_shape"):
        viz.reconstruction_grid(images, images, (1, 7, 7))


def test_loss_curves_from_history_and_dict(tmp_path):
    h = History()
    for e, (loss, rec, kl) in enumerate([(1.0, 0.8, 0.2), (0.6, 0.5, 0.1)], start=1):
        h._append(e, loss, {"reconstruction": rec, "kl": kl}, loss + 0.1, {"reconstruction": rec, "kl": kl}, 0.1)
    viz.loss_curves(h, path=tmp_path / "one.png")
    fig = viz.loss_curves({"VAE": h, "plain": {"loss": [1.0, 0.5, 0.25]}}, path=tmp_path / "two.png")
    assert_png(tmp_path / "one.png")
    assert_png(tmp_path / "two.png")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "kl (train)" in legend and "kl (val)" in legend and "total loss (val)" in legend


def test_latent_maps_pca_and_tsne(tmp_path, images, labels):
    fig = viz.latent_maps(images[:, :5], labels, class_names=["zero", "one", "two", "three"],
                          path=tmp_path / "lat.png")
    assert_png(tmp_path / "lat.png")
    legend = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert legend == ["zero", "one", "two", "three"]
    assert "variance" in fig.axes[0].get_xlabel()


def test_filter_tiles_dense_and_conv(tmp_path):
    rng = np.random.default_rng(1)
    viz.filter_tiles({"dense": rng.normal(size=(64, 10)), "conv": rng.normal(size=(4, 2, 3, 3))}, SHAPE,
                     path=tmp_path / "filters.png")
    assert_png(tmp_path / "filters.png")
    with pytest.raises(ValueError, match=r"\(64, K\)"):
        viz.filter_tiles(rng.normal(size=(10, 64)), SHAPE)


def test_denoising_triptych(tmp_path, images):
    noisy = np.clip(images + 0.3, 0, 1)
    fig = viz.denoising_triptych(noisy, images, images, SHAPE, n=5, noise="shifted", path=tmp_path / "den.png")
    assert_png(tmp_path / "den.png")
    assert [ax.get_ylabel().split("\n")[0] for ax in fig.axes] == ["input: shifted", "denoised (shifted)",
                                                                    "clean target"]


def test_generation_comparison_and_gaussian_codes(tmp_path, images):
    codes = np.random.default_rng(2).normal(size=(500, 3)) * [1.0, 2.0, 0.5] + [1.0, 0.0, -1.0]
    draws = viz.gaussian_codes(codes, 4000, seed=0)
    assert draws.shape == (4000, 3)
    np.testing.assert_allclose(draws.mean(axis=0), codes.mean(axis=0), atol=0.1)
    np.testing.assert_allclose(draws.std(axis=0), codes.std(axis=0), rtol=0.1)
    viz.generation_comparison({"AE": images[:9], "VAE": images[9:18]}, SHAPE, path=tmp_path / "gen.png")
    assert_png(tmp_path / "gen.png")


@pytest.mark.parametrize("latent_dim, with_codes", [(2, False), (2, True), (5, True), (5, False)])
def test_latent_manifold(tmp_path, latent_dim, with_codes):
    rng = np.random.default_rng(3)
    W = rng.normal(size=(latent_dim, 64))
    seen = []

    def decode(Z):
        seen.append(Z)
        return 1 / (1 + np.exp(-Z @ W))

    codes = rng.normal(size=(50, latent_dim)) if with_codes else None
    viz.latent_manifold(decode, latent_dim, SHAPE, n=6, codes=codes, path=tmp_path / "man.png")
    assert_png(tmp_path / "man.png")
    (Z,) = seen
    assert Z.shape == (36, latent_dim) and Z.dtype == np.float32


def test_manifold_codes_grid_layout():
    Z, _ = viz.manifold_codes(2, n=5)
    grid = Z.reshape(5, 5, 2)
    assert np.all(np.diff(grid[0, :, 0]) > 0)  # columns: first coordinate grows to the right
    assert np.all(np.diff(grid[:, 0, 1]) < 0)  # rows: second coordinate falls going down
    np.testing.assert_allclose(grid[0, 2], [0.0, 1.6448536], atol=1e-6)  # Phi^-1(0.5), Phi^-1(0.95)
    codes = np.random.default_rng(4).normal(size=(200, 4)) * [3.0, 1.0, 0.1, 0.1]
    Z, _ = viz.manifold_codes(4, n=3, codes=codes, span=2.0)
    np.testing.assert_allclose(Z[4], codes.mean(axis=0), atol=1e-12)  # the centre cell is the mean
    assert abs(Z[5, 0] - Z[4, 0]) == pytest.approx(2 * codes[:, 0].std(ddof=1), rel=0.05)  # PC 1 is axis 0


def test_code_histograms(tmp_path):
    rng = np.random.default_rng(5)
    fig = viz.code_histograms({"plain": rng.uniform(size=(30, 8)), "sparse": rng.beta(0.5, 8, size=(30, 8))},
                              rho=0.05, path=tmp_path / "hist.png")
    assert_png(tmp_path / "hist.png")
    assert any("rho = 0.05" in t.get_text() for t in fig.axes[1].get_legend().get_texts())


def test_figures_do_not_touch_pyplot(images):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    viz.reconstruction_grid(images, images, SHAPE, n=3)
    assert plt.get_fignums() == before


def test_rgb_images(tmp_path):
    rgb = np.random.default_rng(6).uniform(size=(4, 3 * 4 * 4))
    viz.reconstruction_grid(rgb, rgb, (3, 4, 4), path=tmp_path / "rgb.png")
    assert_png(tmp_path / "rgb.png")


def test_compare_curves(tmp_path):
    fig = viz.compare_curves([2, 4, 8], {"PCA": [0.05, 0.03, 0.01], "AE": [0.04, 0.02, 0.01]}, xlabel="code size",
                             ylabel="test MSE", title="t", log_y=True, reference={"raw": 0.02},
                             path=tmp_path / "cmp.png")
    assert_png(tmp_path / "cmp.png")
    assert fig.axes[0].get_xlabel() == "code size"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["PCA", "AE", "raw"]
    with pytest.raises(ValueError, match="2 values for 3 settings"):
        viz.compare_curves([1, 2, 3], {"x": [1, 2]}, xlabel="", ylabel="", title="")


def test_compare_curves_keeps_the_reference_line_inside_the_axes():
    fig = viz.compare_curves([2, 4], {"AE": [0.5, 0.8]}, xlabel="k", ylabel="accuracy", title="t",
                             reference={"raw pixels": 0.95})
    low, high = fig.axes[0].get_ylim()
    assert low < 0.5 and high > 0.95  # the line is not drawn on the frame


def test_long_titles_wrap_to_the_figure_width():
    title = "What each hidden unit looks for: its weights as an image, one tile per unit of the first layer"
    fig = viz.filter_tiles(np.random.default_rng(0).normal(size=(64, 16)), SHAPE, title=title)
    text = fig.get_suptitle()
    assert "\n" in text and text.replace("\n", " ") == title
    fig.canvas.draw()
    box = fig._suptitle.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width  # nothing cut off at the edges
    assert viz.loss_curves({"loss": [1.0, 0.5]}, title="short").get_suptitle() == "short"


def test_filter_tiles_height_follows_the_grid():
    rng = np.random.default_rng(0)
    wide = viz.filter_tiles(rng.normal(size=(64, 32)), SHAPE)  # 32 tiles: 4 rows of 8
    square = viz.filter_tiles(rng.normal(size=(64, 64)), SHAPE)  # 64 tiles: 8 rows of 8
    assert wide.get_figheight() < square.get_figheight()


def test_anomaly_scores(tmp_path):
    rng = np.random.default_rng(7)
    fig = viz.anomaly_scores({"AE": rng.normal(size=50), "PCA": rng.normal(size=50)},
                             {"AE": rng.normal(2, 1, size=20), "PCA": rng.normal(size=20)},
                             path=tmp_path / "roc.png")
    assert_png(tmp_path / "roc.png")
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend[0].startswith("AE: AUC 0.9") and legend[-1] == "chance: AUC 0.5"


def test_value_maps(tmp_path):
    fig = viz.value_maps({"a": np.arange(16.0).reshape(4, 4), "b": np.ones((3, 5))}, title="maps",
                         path=tmp_path / "maps.png")
    assert_png(tmp_path / "maps.png")
    assert "15" in [t.get_text() for t in fig.axes[0].texts]
    with pytest.raises(ValueError, match="2-D"):
        viz.value_maps({"bad": np.ones(3)}, title="")
