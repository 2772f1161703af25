"""``tinyae bench``: the harness runs in a tiny mode and prints its table (correctness, not timing)."""

import importlib.util
import json
import types

import numpy as np
import pytest

from tinyae.cli import bench
from tinyae.cli import main as cli_main
from tinyae.cli.bench import workers
from tinyae.cli.bench.measure import measure_tinyae
from tinyae.cli.bench.networks import NETWORKS, build_model, synthetic_data
from tinyae.cli.bench.products import epoch_flops, matmul_products, product_flops
from tinyae.cli.bench.report import pair_ratios

TINY = ["--n", "200", "--batch-size", "64", "--epochs", "1", "--warmup", "0"]


def test_bench_prints_time_flops_products_and_split_for_every_network(capsys):
    assert bench.main(["all", *TINY, "--inprocess"]) == 0
    out = capsys.readouterr().out
    for net in NETWORKS:
        assert f"== {net}:" in out
    assert out.count("s/epoch") >= 3 and out.count("GFLOP/s peak") == 3
    assert "epoch / products alone" in out and "within about 1.3x" in out  # the dense AE's 1.3x check
    assert "encoder.0 Dense(784 -> 256)" in out and "loss BCEWithLogits" in out and "optimizer step" in out
    assert "loss GaussianKL" in out  # the VAE's second loss term
    assert "im2col" in out and "col2im" in out and "matrix products (replayed)" in out  # the conv split
    assert "load average" in out


def test_bench_measures_in_a_fresh_process_with_the_thread_count_fixed(capsys, tmp_path):
    path = tmp_path / "bench.json"
    assert bench.main(["dense", *TINY, "--threads", "1", "--no-split", "--json", str(path)]) == 0
    result = json.loads(path.read_text())
    run = result["results"]["dense"]["tinyae"][0]
    assert run["threads"]["numba"] == 1 and all(entry.endswith(":1") for entry in run["threads"]["blas"])
    assert len(run["epoch_times"]) == 1 and run["median"] > 0
    assert "split" not in run and "products_alone" not in run
    assert result["machine"]["cores"] >= 1 and result["args"]["threads"] == 1


def test_flop_count_of_the_dense_autoencoder():
    model = build_model("dense")
    macs = 784 * 256 + 256 * 64 + 64 * 256 + 256 * 784  # multiply-adds per sample per product
    skipped = 784 * 256  # the first layer's dx = dy @ W.T: its input is data (Layer.backward_params)
    assert product_flops(matmul_products(model, 128)) == 2 * 128 * (3 * macs - skipped)
    # an epoch of 200 images in batches of 64: 64 + 64 + 64 + 8 samples
    assert epoch_flops(model, 200, 64) == 2 * 200 * (3 * macs - skipped)


def test_flop_count_of_a_convolution_is_that_of_its_im2col_products():
    model = build_model("conv")
    products = matmul_products(model, 2)
    assert len(products) == 3 * 5 - 1  # five Conv2D layers, three products each, but no dcol for the first
    first = products[0]  # Conv(1 -> 16) at 28x28: W (16, 1*3*3) @ col (9, 2*28*28)
    assert first == ((16, 9), (9, 2 * 28 * 28), False, False)
    assert product_flops([first]) == 2 * 16 * 9 * 2 * 28 * 28
    assert products[1] == ((16, 2 * 28 * 28), (9, 2 * 28 * 28), False, True)  # its dW = dy @ col.T; then layer 2
    assert products[2] == ((16, 8 * 9), (16, 2 * 14 * 14), True, False)  # Conv(16 -> 8): the flipped route


def test_products_replay_multiplies_exactly_the_counted_shapes():
    model = build_model("vae")
    for a_shape, b_shape, ta, tb in matmul_products(model, 5):
        a, b = np.zeros(a_shape), np.zeros(b_shape)
        (a.T if ta else a) @ (b.T if tb else b)  # raises if a counted product is not a valid one


def test_the_reference_networks_train(capsys):
    args = types.SimpleNamespace(n=256, batch_size=64, epochs=2, warmup=0, seed=0, backend="cpu")
    for net in NETWORKS:
        result = measure_tinyae(net, args, split=False)
        assert result["losses"][-1] < result["losses"][0], net


@pytest.mark.parametrize("net", list(NETWORKS))
def test_a_training_step_stays_float32(net):
    """No hidden float64: every layer's output and input gradient, every Param's gradient, the loss."""
    from tinyae.models import leaf_layers
    from tinyae.optim import Adam

    model = build_model(net)
    seen = []
    for layer in leaf_layers(model.encoder) + leaf_layers(model.decoder):
        for method in ("forward", "backward"):
            original = getattr(layer, method)

            def checked(*args, _original=original, _where=f"{layer!r}.{method}", **kwargs):
                out = _original(*args, **kwargs)
                if out is not None:  # the first layer's backward returns no dx (Layer.backward_params)
                    seen.append((_where, out.dtype))
                return out

            setattr(layer, method, checked)
    opt = Adam(model.params())
    loss = model.loss_and_backward(synthetic_data(net, 16), training=True)
    opt.step()
    assert len(seen) > 10 and all(dtype == np.float32 for _, dtype in seen), [s for s in seen if s[1] != np.float32]
    assert loss.dtype == np.float32
    for p in model.params():
        assert p.value.dtype == p.grad.dtype == np.float32, p
    for state in opt.state:
        assert all(buf.dtype == np.float32 for buf in state.values())


def test_compare_torch_without_torch_says_so_and_times_tinyae(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    assert bench.main(["dense", *TINY, "--no-split", "--inprocess", "--compare", "torch", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "needs PyTorch" in out and "== dense" in out and "tinyae / torch" not in out


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed (never a dependency)")
def test_compare_torch_prints_the_ratio(capsys):
    assert bench.main(["dense", *TINY, "--no-split", "--inprocess", "--compare", "torch", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert "tinyae / torch =" in out and "per round" in out and "target <= 0.7" in out


def test_bad_arguments_are_refused():
    with pytest.raises(SystemExit, match="unknown network"):
        bench.main(["resnet", "--inprocess"])
    with pytest.raises(SystemExit, match="--epochs"):
        bench.main(["dense", "--epochs", "0", "--inprocess"])


def test_cli_has_the_bench_command(capsys):
    with pytest.raises(SystemExit):
        cli_main(["bench", "--help"])
    assert "--compare" in capsys.readouterr().out


def test_the_two_sides_take_turns_epoch_by_epoch(monkeypatch):
    """A B B A A B ...: every tinyae epoch is timed right next to a torch epoch, and a drift of the
    machine within a round hits both sides alike."""
    calls = []

    class FakeWorker:
        def __init__(self, side, net, args, split):
            self.side, self.split, self.times = side, split, []

        def ask(self, command):
            calls.append((self.side, command))
            if command == "ready":
                return {"ready": self.side}
            if command == "epoch":
                self.times.append(len(calls))
                return {"epoch_time": float(len(calls))}
            return {"side": self.side, "split": self.split, "epoch_times": self.times[1:]}

        def close(self):
            calls.append((self.side, "closed"))

    monkeypatch.setattr(workers, "Worker", FakeWorker)
    monkeypatch.setattr(workers, "TURN_PAUSE", 0.0)
    args = types.SimpleNamespace(inprocess=False, warmup=1, epochs=3)
    out = workers.measure_round("dense", ["tinyae", "torch"], args, split=True)
    assert calls[:2] == [("tinyae", "ready"), ("torch", "ready")]  # both started before any epoch is timed
    epochs = [side for side, command in calls if command == "epoch"]
    assert epochs == ["tinyae", "torch", "torch", "tinyae", "tinyae", "torch", "torch", "tinyae"]
    assert out["tinyae"]["split"] and not out["torch"]["split"]  # only tinyae splits its time by layer
    assert calls[-2:] == [("tinyae", "closed"), ("torch", "closed")]


def test_the_ratio_is_the_median_of_adjacent_epoch_pairs():
    runs = {"tinyae": [{"epoch_times": [1.0, 2.0, 1.5]}, {"epoch_times": [0.7, 0.7, 0.7]}],
            "torch": [{"epoch_times": [2.0, 4.0, 2.0]}, {"epoch_times": [1.0, 1.0, 1.0]}]}
    # A slow spell (the second epoch of round 1) doubles both sides: its pair still says 0.5.
    assert pair_ratios(runs) == [[0.5, 0.5, 0.75], [0.7, 0.7, 0.7]]


def test_a_worker_that_dies_is_reported_with_its_own_message():
    args = types.SimpleNamespace(epochs=1, warmup=0, n=64, batch_size=32, backend="cpu", threads=1, seed=0)
    worker = workers.Worker("tinyae", "resnet", args, split=False)  # the child refuses the network and exits
    with pytest.raises(RuntimeError, match="(?s)the tinyae run of resnet failed.*unknown network"):
        worker.ask("ready")
    with pytest.raises(RuntimeError, match="unknown network"):  # writing to the dead process: the same message
        worker.ask("epoch")
    worker.close()  # and closing it raises nothing
    assert worker.proc.returncode not in (None, 0)


def _floor_script():
    import runpy
    from pathlib import Path

    return runpy.run_path(str(Path(__file__).resolve().parents[1] / "docs" / "perf" / "floor_dense.py"))


def test_the_floor_script_of_the_performance_page_runs(capsys):
    """docs/perf/floor_dense.py (the bare loop docs/performance.md compares fit with) still runs."""
    ratio = _floor_script()["main"](["--epochs", "2", "--n", "256", "--batch-size", "64"])
    assert ratio > 0 and "bare / tinyae =" in capsys.readouterr().out


def test_the_floor_computes_what_fit_computes():
    """The comparison is fair: after an epoch, the bare loop's weights equal fit's, bit for bit."""
    from tinyae.optim import Adam
    from tinyae.train import fit

    X = synthetic_data("dense", 200)
    bare = _floor_script()["bare_trainer"](X, 64)
    bare(0)
    model = build_model("dense")
    fit(model, X, epochs=1, batch_size=64, optimizer=Adam(model.params(), lr=1e-3), verbose=0)
    for ours, theirs in zip(bare.params, (p.value for p in model.params())):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed (never a dependency)")
def test_the_floor_against_torch_runs(capsys):
    ratio = _floor_script()["main"](["--epochs", "2", "--n", "256", "--batch-size", "64", "--against", "torch"])
    assert ratio > 0 and "bare / torch =" in capsys.readouterr().out
