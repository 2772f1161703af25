"""A guided tour of tinyae in about a minute, offline: proof, training, pictures.

    tinyae tour                       # digits (bundled), figures and report.md in ./tinyae-tour
    tinyae tour --out DIR --seed 1
    tinyae tour --data mnist          # the same tour on MNIST, when its files are in the data cache
    tinyae tour --quick               # a smoke run of every step (tiny data, 1-2 epochs)

What it does, in order:

1. Prints the gradient-check table: every built-in layer, loss and penalty, its hand-written backward
   compared with centered finite differences (float64, random upstream gradient).
2. Trains five autoencoders on the same data, each with a progress bar: a shallow AE (the bottleneck),
   a sparse AE (KL penalty), a denoising AE (Gaussian noise), a convolutional AE and a VAE (2-D code).
3. Writes a folder of figures and a report.md that explains each in one line, with the key numbers,
   and prints where it wrote them.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

from tinyae import backend, viz, zoo
from tinyae.data import DatasetUnavailableError, gaussian_noise, load
from tinyae.experiment import blas_single_thread, distance_to_nearest, pixel_mse, train
from tinyae.gradcheck.cases import layer_cases, loss_cases, run_cases
from tinyae.train import HoldCtrlC, encode, predict

# Each figure of the tour and its one-line explanation (report.md's figure list, in this order).
FIGURES = {
    "reconstructions.png": "The same test digits reconstructed by each model, with each row's mean squared error.",
    "loss_curves.png": "Training (solid) and validation (dashed) loss per epoch, with every penalty term "
                       "(KL sparsity, weight decay, the VAE's KL) drawn on its own. The denoising AE trains on "
                       "noisy input but is validated on clean input, hence its lower validation loss. The sparse AE's "
                       "KL term is lower on validation too: rho_hat is a batch mean, the validation set is one "
                       "large batch whose rho_hat scatters less around rho than that of a training batch of 32, "
                       "and the KL, convex in rho_hat, grows with the scatter.",
    "latent_shallow_ae.png": "The shallow AE's codes of the test set in 2-D (PCA and t-SNE), coloured by digit: "
                             "it was never told the labels, yet digits gather.",
    "filters.png": "First-layer weights as images: each tile is what one hidden unit looks for. The sparse AE's "
                   "units, each active for few inputs and with decayed weights, respond to a blob or a short "
                   "stroke in the middle of the digit (8x8 pixels are too coarse for the crisp pen strokes of the "
                   "classic 28x28 picture), and their borders are grey: the digits' border pixels are always 0, so "
                   "those weights get no gradient from the data and weight decay takes them to 0. The shallow AE "
                   "has no decay, so its weights on the pixels that are inked in fewer than 1% of the images keep "
                   "their random start; they are drawn grey and left out of each tile's scale, so what it learned "
                   "shows.",
    "sparse_codes.png": "How active the code units are: the sparse AE's units sit near the target rho, "
                        "the plain AE's sigmoid units are on far more often.",
    "denoising.png": "Noisy test digits, what the denoising AE makes of them, and the clean originals.",
    "generation.png": "Decoding random codes: a plain AE (Gaussian fitted to its codes) versus the VAE "
                      "(prior N(0, I)). The VAE was trained so that its whole prior decodes to digits.",
    "vae_manifold.png": "The VAE's 2-D latent plane decoded on a grid at the prior's quantiles: "
                        "digits morph smoothly into each other.",
    "latent_vae.png": "Where the VAE puts the test digits in its 2-D latent plane (the means mu).",
}

# Per dataset: training length and sizes. Dense models share lr and epochs; conv and VAE have their own.
SETTINGS = {
    "digits": {"epochs": 100, "conv_epochs": 30, "vae_epochs": 150, "batch_size": 32, "lr": 1e-2, "conv_lr": 3e-3,
               "vae_lr": 3e-3, "limit": None},
    "mnist": {"epochs": 5, "conv_epochs": 2, "vae_epochs": 10, "batch_size": 128, "lr": 3e-3, "conv_lr": 3e-3,
              "vae_lr": 1e-3, "limit": 10000},
    "fashion-mnist": {"epochs": 5, "conv_epochs": 2, "vae_epochs": 10, "batch_size": 128, "lr": 3e-3,
                      "conv_lr": 3e-3, "vae_lr": 1e-3, "limit": 10000},
}
QUICK = {"epochs": 1, "conv_epochs": 1, "vae_epochs": 2, "batch_size": 32, "limit": 200, "eval": 100}
SPARSE_RHO = 0.05
SPARSE_DECAY = 1e-3  # L2 on the weights, as in the classic MSE + L2 + KL sparse autoencoder
DENOISE_STD = 0.3


def configure(parser):
    parser.add_argument("--out", type=Path, default=Path("tinyae-tour"), metavar="DIR",
                        help="folder for the figures and report.md (default ./tinyae-tour)")
    parser.add_argument("--data", default="digits", choices=list(SETTINGS),
                        help="digits (bundled, offline; default) or mnist / fashion-mnist: their files must "
                             "already be in the tinyae data cache (the tour never downloads)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, the shuffling and the noise")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of every step: 200 training images, 1-2 epochs (the numbers mean nothing)")
    parser.add_argument("--backend", choices=("cpu", "gpu"), default="cpu",
                        help="where the five models train: cpu (NumPy + Numba, default) or gpu (CuPy); the "
                             "gradient checks (float64) and the figures run on the CPU either way")


def describe_loss(model) -> str:
    """The reconstruction loss of a model in words, e.g. "BCE on logits, summed over pixels" (for plot labels)."""
    loss = getattr(model, "loss", None)
    names = {"MSE": "squared error", "BCE": "BCE", "BCEWithLogits": "BCE on logits"}
    name = names.get(type(loss).__name__, type(loss).__name__)
    how = {"mean": "per pixel", "batch_mean": "summed over pixels", "sum": "summed"}.get(
        getattr(loss, "reduction", ""), "")
    text = f"{name} {how}".strip()
    return f"{text} + KL" if hasattr(model, "latent_dim") else text


# --------------------------------------------------------------------------------------------------
# The tour
# --------------------------------------------------------------------------------------------------


def _step(i: int, n: int, text: str):
    print(f"\n[{i}/{n}] {text}", flush=True)


def _gradcheck(lines: list) -> tuple:
    def out(line):
        print(line, flush=True)
        lines.append(line)

    reports = run_cases(layer_cases() + loss_cases(), out=out)
    passed = sum(r.passed for r in reports.values())
    worst = max(r.max_error for r in reports.values())
    return passed, len(reports), worst


def _load(args):
    """The dataset (flat rows) or None with a message when its files are not in the cache."""
    limit = QUICK["limit"] if args.quick else SETTINGS[args.data]["limit"]
    try:
        return load(args.data, download=False, seed=args.seed, limit=limit)
    except DatasetUnavailableError as err:
        print(f"tinyae tour: the {args.data} files are not available offline, so the tour cannot run on them.\n"
              f"{err}\n\nThe digits tour needs no files: tinyae tour --data digits", file=sys.stderr)
        return None


def run(args) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"tinyae tour: --out {out} is a file, not a folder; give a folder for the figures and report",
              file=sys.stderr)
        return 2
    if args.seed < 0:
        print(f"tinyae tour: --seed must be >= 0, got {args.seed}", file=sys.stderr)
        return 2
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        print(f"tinyae tour: cannot write to --out {out}: {err.strerror or err}; give a folder you can write",
              file=sys.stderr)
        return 2
    state = _State()
    try:
        with blas_single_thread():
            try:
                return _run(args, state)
            except KeyboardInterrupt:
                return _interrupted(args, out, state)
    finally:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # the tour stopped before writing anything: leave no empty folder behind


@dataclass
class _State:
    """What the tour has done so far (for the report of an interrupted tour)."""

    stage: str = "the gradient checks"
    table: list = field(default_factory=list)
    gradcheck: tuple | None = None
    ds: object = None
    n_train: int = 0
    Xt: object = None
    models: list = field(default_factory=list)
    t0: float = field(default_factory=time.perf_counter)


def _interrupted(args, out: Path, state: _State) -> int:
    """Ctrl-C: say so, write a report.md marked INTERRUPTED (what was done, nothing that was not), exit 130."""
    with HoldCtrlC("writing the interrupted report"):
        print(f"\ntinyae tour: interrupted by Ctrl-C during {state.stage}", file=sys.stderr)
        if state.ds is None and state.gradcheck is None:
            print("tinyae tour: nothing finished, no report written", file=sys.stderr)
            return 130
        for m in state.models:
            if "test MSE" not in m.numbers and state.Xt is not None:
                Xt = state.Xt.reshape(len(state.Xt), *state.ds.image_shape) if m.label == "conv AE" else state.Xt
                m.numbers["test MSE"] = pixel_mse(m.model, Xt)
        report = _report(args, state.ds, state.n_train, 0 if state.Xt is None else len(state.Xt), state.table,
                         state.gradcheck, state.models, {}, {}, [], time.perf_counter() - state.t0,
                         interrupted=state.stage)
        (out / "report.md").write_text(report, encoding="utf-8")
        print(f"tinyae tour: wrote {out / 'report.md'}, marked INTERRUPTED (the models did not all finish "
              f"training; no figures)", file=sys.stderr)
    return 130


def _run(args, state) -> int:
    t0 = state.t0
    out = Path(args.out)
    device = getattr(args, "backend", "cpu")
    if device == "gpu":
        if not backend.gpu_available():
            print("tinyae tour: --backend gpu needs CuPy and a CUDA device, and none was found "
                  "(pip install 'tinyae[cuda12]' or 'tinyae[cuda13]', or leave --backend out)", file=sys.stderr)
            return 2
    settings = dict(SETTINGS[args.data])
    if args.quick:
        settings.update(QUICK)
    ds = _load(args)  # before any work: a missing dataset is said at once
    if ds is None:
        return 2
    n_steps = 4
    mode = " (--quick: a smoke run; the numbers mean nothing)" if args.quick else ""
    print(f"tinyae tour on {args.data}{mode}: gradient checks, five autoencoders, figures -> {out}/")

    _step(1, n_steps, "Every backward pass against finite differences (float64, random upstream gradient)")
    table = state.table
    passed, n_cases, worst = state.gradcheck = _gradcheck(table)

    X, Xv, Xt, yt = ds.X_train, ds.X_val, ds.X_test, ds.y_test
    if args.quick:
        Xv, Xt, yt = Xv[: QUICK["eval"]], Xt[: QUICK["eval"]], yt[: QUICK["eval"]]
    shape, D = ds.image_shape, ds.n_features

    def images(A):  # flat rows -> (N, C, H, W) for the conv model
        return A.reshape(len(A), *shape)

    _step(2, n_steps, f"Training five autoencoders on {len(X)} {args.data} images ({D} pixels each)")
    state.ds, state.n_train, state.Xt = ds, len(X), Xt
    seed, bs, lr = args.seed, settings["batch_size"], settings["lr"]
    dense = {"epochs": settings["epochs"], "batch_size": bs, "lr": lr, "X_val": Xv, "seed": seed, "device": device}
    conv_kw = {"epochs": settings["conv_epochs"], "batch_size": bs, "lr": settings["conv_lr"], "X_val": images(Xv),
               "seed": seed, "device": device}
    vae_kw = {"epochs": settings["vae_epochs"], "batch_size": bs, "lr": settings["vae_lr"], "X_val": Xv, "seed": seed,
              "device": device}
    plan = [("shallow AE", lambda: zoo.shallow_ae(D, seed=seed), X, dense),
            ("sparse AE (KL)", lambda: zoo.sparse_kl_ae(D, D, rho=SPARSE_RHO, weight_decay=SPARSE_DECAY, seed=seed),
             X, dense),
            ("denoising AE", lambda: zoo.denoising_ae(D, noise="gaussian", level=DENOISE_STD, seed=seed), X, dense),
            ("conv AE", lambda: zoo.conv_ae(shape, seed=seed), images(X), conv_kw),
            ("VAE (2-D code)", lambda: zoo.vae(D, latent_dim=2, seed=seed), X, vae_kw)]
    models = state.models
    for label, build, data, kw in plan:
        state.stage = f"the training of the {label}"
        models.append(train(label, build(), data, **kw))
        if models[-1].history.interrupted:  # fit stopped cleanly on Ctrl-C: the tour stops here
            raise KeyboardInterrupt
    shallow, sparse, denoise, conv, vae = models
    for m in models:
        m.numbers["test MSE"] = pixel_mse(m.model, images(Xt) if m is conv else Xt)

    state.stage = "the figures"
    _step(3, n_steps, "Figures")
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def figure(name, fig):
        viz.save(fig, out / name)
        written.append(name)
        print(f"  {out / name}", flush=True)

    recs = {m.label: predict(m.model, images(Xt) if m is conv else Xt) for m in models}
    figure("reconstructions.png", viz.reconstruction_grid(Xt, recs, shape, n=12))
    figure("loss_curves.png", viz.loss_curves({f"{m.label}: {describe_loss(m.model)}": m.history for m in models}))
    H_shallow = encode(shallow.model, Xt)
    figure("latent_shallow_ae.png", viz.latent_maps(
        H_shallow, yt, class_names=ds.classes, seed=seed,
        title=f"Shallow AE: its {H_shallow.shape[1]}-D codes of the test digits, projected to 2-D"))
    figure("filters.png", viz.filter_tiles(
        {"shallow AE": shallow.model.encoder[0].W.value, "sparse AE (KL)": sparse.model.encoder[0].W.value},
        shape, active=(X > 0).mean(axis=0) >= 0.01,
        title="First-layer filters: each tile is one hidden unit's weights (grey 0, white +, black \u2212)"))
    H_sparse = encode(sparse.model, Xt)
    key = {}  # the key numbers of report.md, each a sentence
    key["sparse"] = (f"Sparse AE: mean code activation {float(H_sparse.mean()):.3f} on the test set (target rho = "
                     f"{SPARSE_RHO}); {float((H_sparse < 0.1).mean()):.0%} of its activations are below 0.1. The "
                     f"shallow AE's sigmoid units average {float(H_shallow.mean()):.3f}.")
    figure("sparse_codes.png", viz.code_histograms(
        {f"shallow AE ({H_shallow.shape[1]} units)": H_shallow, f"sparse AE, KL ({H_sparse.shape[1]} units)": H_sparse},
        rho=SPARSE_RHO, title="Code activations on the test set: the KL penalty holds each unit's mean near rho"))
    noisy = gaussian_noise(Xt, DENOISE_STD, seed + 1)
    denoised = predict(denoise.model, noisy)
    key["denoising"] = (f"Denoising AE: test digits with Gaussian noise (std {DENOISE_STD}) are "
                        f"{float(((noisy - Xt) ** 2).mean()):.4f} (MSE) from the clean digits; its outputs are "
                        f"{float(((denoised - Xt) ** 2).mean()):.4f} from them.")
    figure("denoising.png", viz.denoising_triptych(noisy, denoised, Xt, shape, n=12,
                                                   noise=f"Gaussian, std {DENOISE_STD}"))
    codes = encode(shallow.model, X)
    n_gen = 36 if args.quick else 300
    ae_samples = shallow.model.decode(viz.gaussian_codes(codes, n_gen, seed=seed).astype(X.dtype))
    vae_samples = vae.model.sample(n_gen, seed=seed)
    d_test, d_ae, d_vae = (distance_to_nearest(S, X) for S in (Xt[:n_gen], ae_samples, vae_samples))
    key["generation"] = (f"Generation: decoded random codes lie {d_ae:.4f} (plain AE) and {d_vae:.4f} (VAE) from "
                         f"their nearest training digit (squared distance per pixel, mean over {n_gen} samples); "
                         f"real test digits lie {d_test:.4f} from theirs. Lower is more digit-like.")
    figure("generation.png", viz.generation_comparison(
        {f"plain AE: z ~ Gaussian fitted to its {codes.shape[1]}-D codes\n"
         f"distance to nearest training image {d_ae:.4f}": ae_samples,
         f"VAE: z ~ N(0, I), its prior\ndistance to nearest training image {d_vae:.4f}": vae_samples}, shape,
        title=f"Decoded random codes (real test digits: distance {d_test:.4f})"))
    figure("vae_manifold.png", viz.latent_manifold(vae.model.decode, 2, shape, n=15,
                                                   title="The VAE's latent plane, decoded"))
    mu = encode(vae.model, Xt)
    if vae.history.val_terms.get("kl"):
        key["vae"] = (f"VAE: its code carries {vae.history.val_terms['kl'][-1]:.2f} nats per image (the KL term "
                      f"on the validation set, the price of the information the 2-D code holds).")
    figure("latent_vae.png", viz.latent_maps(mu, yt, methods=("raw",), class_names=ds.classes, seed=seed,
                                             title="VAE: the means mu of the test digits in its 2-D latent plane"))

    state.stage = "the report"
    _step(4, n_steps, "Key numbers and the report")
    baselines = _baselines(ds, X, Xt, H_shallow.shape[1])
    print("  test MSE per pixel: " + ", ".join(f"{m.label} {m.numbers['test MSE']:.4f}" for m in models)
          + "; baselines: " + ", ".join(f"{k} {v:.4f}" for k, v in baselines.items()))
    for text in key.values():
        print(f"  {text}")
    seconds = time.perf_counter() - t0
    report = _report(args, ds, len(X), len(Xt), table, (passed, n_cases, worst), models, baselines, key, written,
                     seconds)
    (out / "report.md").write_text(report, encoding="utf-8")
    print(f"  {out / 'report.md'}")
    print(f"\nDone in {seconds:.0f}s. Open {out / 'report.md'} (it shows each figure with a line on what to see); "
          f"the figures are in {out}/.")
    return 0 if passed == n_cases else 1


def _baselines(ds, X, Xt, k) -> dict:
    """Reference reconstruction errors: the mean image, and PCA with k components (k = the shallow code size)."""
    mean = X.mean(axis=0)
    k = min(k, len(X), X.shape[1])
    pca = PCA(n_components=k, random_state=0).fit(X)
    R = pca.inverse_transform(pca.transform(Xt))
    return {"mean image": float(((Xt - mean) ** 2).mean()), f"PCA, {k} components": float(np.mean((R - Xt) ** 2))}


def _report(args, ds, n_train, n_test, table, gradcheck, models, baselines, key, figures, seconds,
            interrupted=None) -> str:
    """report.md; with ``interrupted`` (the stage Ctrl-C stopped), marked as such and holding only what was done."""
    quick = "\n> Quick mode (`--quick`): tiny data and 1-2 epochs; the numbers and pictures mean nothing.\n" \
        if args.quick else ""
    lines = [f"# tinyae tour on {args.data}" + (" (INTERRUPTED)" if interrupted else ""), quick]
    if interrupted:
        lines += [f"> **Interrupted by Ctrl-C during {interrupted}.** This report holds only what was finished "
                  "before: models stopped early are marked, their numbers come from half-trained weights, and "
                  "no figures were drawn. Run `tinyae tour` again for the full tour.", ""]
    if ds is not None:
        lines.append(f"Data: {n_train} training and {n_test} test images of shape {ds.image_shape} (values in [0, 1]). "
                     f"Seed {args.seed}. Trained on the {getattr(args, 'backend', 'cpu').upper()}. "
                     f"Wall time {seconds:.0f} s.")
    if gradcheck is not None:
        passed, n_cases, worst = gradcheck
        lines += [
            "",
            "## 1. The proof: every backward pass against finite differences",
            "",
            f"{passed} of {n_cases} layers, losses and penalties agree with centered finite differences "
            f"(float64, random upstream gradient); the largest relative error is {worst:.1e}.",
            "",
            "```text",
            *table,
            "```",
        ]
    if interrupted and not models:
        return "\n".join(lines + [""])
    lines += [
        "",
        "## 2. Five autoencoders",
        "",
        "Test MSE is the mean squared error per pixel of the reconstructions of the test images, the same "
        "measure for every model (the training losses differ: BCE on logits for the denoising, conv and VAE "
        "models, summed over pixels for the sparse AE and the VAE).",
        "",
        "| model | what it shows | epochs | time | test MSE |",
        "|---|---|---|---|---|",
    ]
    ideas = {
        "shallow AE": "a bottleneck: 64-16-64 sigmoid, MSE" if ds.n_features == 64 else "a bottleneck, n/4 units",
        "sparse AE (KL)": f"as many units as pixels, kept sparse by a KL penalty (rho = {SPARSE_RHO}) "
                          f"and L2 weight decay ({SPARSE_DECAY:g})",
        "denoising AE": f"learns to undo Gaussian noise (std {DENOISE_STD})",
        "conv AE": "convolutions and pooling: weights shared over the image",
        "VAE (2-D code)": "a Gaussian code with a KL to N(0, I): a generator",
    }
    for m in models:
        stopped = " (stopped by Ctrl-C)" if m.history.interrupted else ""
        lines.append(f"| {m.label} | {ideas.get(m.label, '')} | {len(m.history)}{stopped} | {m.seconds:.1f} s | "
                     f"{m.numbers['test MSE']:.4f} |")
    if interrupted:
        return "\n".join(lines + [""])
    lines += ["", "For scale, the same test MSE of two baselines: "
              + "; ".join(f"{k}: {v:.4f}" for k, v in baselines.items()) + ".", "",
              "Key numbers:", "", *(f"- {text}" for text in key.values()), "",
              "## 3. Figures", ""]
    for i, name in enumerate(figures, start=1):
        lines += [f"### {i}. `{name}`", "", FIGURES[name], "", f"![{name}]({name})", ""]
    lines += ["## Next", "",
              "- `tinyae gradcheck -v` prints the full per-tensor table; `tinyae train --help` trains any zoo model.",
              "- The demos (`python demos/NAME.py`) take one idea each further; `docs/` derives every backward pass.",
              ""]
    return "\n".join(lines)
