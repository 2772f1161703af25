"""Check every built-in layer, loss and penalty against finite differences, and print the proof.

Each case builds a tiny float64 instance and an input chosen away from kinks (ReLU and |h| at 0,
max-pool ties), then runs ``check_layer`` / ``check_loss`` with a random upstream gradient. The
table shows the largest relative error per tensor; every case must stay below 1e-7.

    tinyae gradcheck              # all layers, losses and penalties
    tinyae gradcheck --only conv  # the cases whose name contains "conv"
    tinyae gradcheck --verbose    # the full per-tensor table of every case

Your own layer or loss, from a file (tinyae/gradcheck/file.py; exit status 1 when it fails):

    tinyae gradcheck my_layers.py:MyDense --args "4, 3"   # constructor arguments, Python literals
    tinyae gradcheck my_layers.py:MyConv --shape 2,3,8,8  # the input batch's shape
    tinyae gradcheck my_losses.py:MyMSE --json            # the report as JSON, for graders
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from tinyae import zoo
from tinyae.gradcheck.check import check_layer, check_loss, check_model
from tinyae.gradcheck.compare import reseed
from tinyae.gradcheck.inputs import away_from_zero, distinct_values, probabilities
from tinyae.layers import (
    AvgPool2D,
    Conv2D,
    ConvTranspose2D,
    Dense,
    Dropout,
    Flatten,
    GaussianNoise,
    Identity,
    LeakyReLU,
    MaxPool2D,
    Param,
    ReLU,
    Reshape,
    Sigmoid,
    Softplus,
    Tanh,
    TiedDense,
    Upsample2D,
)
from tinyae.losses import BCE, MSE, BCEWithLogits, GaussianKL, KLSparsity, L1Activity, L2WeightDecay
from tinyae.models import VAE, Sequential

F64 = np.float64


@dataclass
class Case:
    name: str
    kind: str  # "layer", "loss" or "model"
    run: object  # () -> Report


def layer_cases(seed: int = 0):
    rng = np.random.default_rng(seed)
    vec = rng.normal(size=(3, 5))
    img = rng.normal(size=(2, 2, 5, 4))

    def tied_pair():
        enc = Dense(5, 3, dtype=F64, seed=seed)
        return Sequential(enc, Sigmoid(), TiedDense(enc))

    cases = [
        ("Dense", lambda: check_layer(Dense(5, 4, dtype=F64, seed=seed), vec)),
        ("Dense (no bias)", lambda: check_layer(Dense(5, 4, bias=False, dtype=F64, seed=seed), vec)),
        ("TiedDense (Dense -> Sigmoid -> TiedDense)", lambda: check_layer(tied_pair(), vec)),
        ("Sigmoid", lambda: check_layer(Sigmoid(), 3 * vec)),
        ("Tanh", lambda: check_layer(Tanh(), vec)),
        ("ReLU", lambda: check_layer(ReLU(), away_from_zero(rng, (3, 5)))),
        ("LeakyReLU", lambda: check_layer(LeakyReLU(0.1), away_from_zero(rng, (3, 5)))),
        ("Softplus", lambda: check_layer(Softplus(), 3 * vec)),
        ("Identity", lambda: check_layer(Identity(), vec)),
        ("Conv2D 3x2, stride 2, padding 1",
         lambda: check_layer(Conv2D(2, 3, (3, 2), stride=2, padding=1, dtype=F64, seed=seed), img)),
        ("ConvTranspose2D 3x3, stride 2, padding 1",
         lambda: check_layer(ConvTranspose2D(2, 3, 3, stride=2, padding=1, dtype=F64, seed=seed), img)),
        ("MaxPool2D 2x2 (overlapping, stride 1)",
         lambda: check_layer(MaxPool2D(2, stride=1), distinct_values(rng, (2, 2, 5, 4)))),
        ("MaxPool2D 2x2", lambda: check_layer(MaxPool2D(2), distinct_values(rng, (2, 2, 4, 4)))),
        ("AvgPool2D 2x2", lambda: check_layer(AvgPool2D(2), img[:, :, :4, :4])),
        ("Upsample2D nearest x2", lambda: check_layer(Upsample2D(2, mode="nearest"), img)),
        ("Upsample2D bilinear x2", lambda: check_layer(Upsample2D(2, mode="bilinear"), img)),
        ("Flatten", lambda: check_layer(Flatten(), img)),
        ("Reshape", lambda: check_layer(Reshape((2, 10, 2)), img)),
        ("GaussianNoise (training)", lambda: check_layer(GaussianNoise(0.3, clip=None, seed=seed), vec,
                                                         training=True)),
        ("Dropout (training)", lambda: check_layer(Dropout(0.3, seed=seed), vec, training=True)),
    ]
    return [Case(name, "layer", run) for name, run in cases]


def loss_cases(seed: int = 0):
    rng = np.random.default_rng(seed + 1)
    pred = rng.normal(size=(4, 6))
    target = probabilities(rng, (4, 6), 0.0, 1.0)
    decayed = [Param(rng.normal(size=(3, 2)), "W1"), Param(rng.normal(size=(4,)), "W2")]

    cases = [
        ("MSE (mean)", lambda: check_loss(MSE(), pred, target)),
        ("MSE (batch_mean)", lambda: check_loss(MSE(reduction="batch_mean"), pred, target)),
        ("BCE on probabilities", lambda: check_loss(BCE(), probabilities(rng, (4, 6)), target)),
        ("BCEWithLogits", lambda: check_loss(BCEWithLogits(), 3 * pred, target)),
        ("BCEWithLogits (sum)", lambda: check_loss(BCEWithLogits(reduction="sum"), pred, target)),
        ("KLSparsity", lambda: check_loss(KLSparsity(rho=0.1, beta=3.0), probabilities(rng, (5, 4)))),
        ("L1Activity", lambda: check_loss(L1Activity(1e-2), away_from_zero(rng, (5, 4)))),
        ("L2WeightDecay", lambda: check_loss(L2WeightDecay(decayed, 1e-2))),
        ("GaussianKL", lambda: check_loss(GaussianKL(), rng.normal(size=(4, 3)), rng.normal(size=(4, 3)),
                                          wrt=("mu", "logvar"))),
    ]
    return [Case(name, "loss", run) for name, run in cases]


# Tiny float64 instances of every zoo variant (and a few options), for the whole-model checks.
# Each is a builder (a lambda): a model is made only for the cases that run.
def tiny_models() -> dict:
    f64 = {"dtype": F64}
    return {
        "ae": lambda: zoo.shallow_ae(6, 3, **f64),
        "ae-logits": lambda: zoo.shallow_ae(6, 3, output="logits", weight_decay=0.01, **f64),
        "stacked": lambda: zoo.stacked_ae(6, sizes=(5, 4, 3), **f64),
        "stacked-sigmoid": lambda: zoo.stacked_ae(6, sizes=(4, 3), activation="sigmoid", output="sigmoid", **f64),
        "sparse-l1": lambda: zoo.sparse_l1_ae(6, 8, lam=0.05, **f64),
        "sparse-kl": lambda: zoo.sparse_kl_ae(6, 4, rho=0.1, beta=3.0, weight_decay=1e-3, **f64),
        "denoising-masking": lambda: zoo.denoising_ae(6, 4, noise="masking", level=0.5, **f64),
        "denoising-gaussian": lambda: zoo.denoising_ae(6, 4, noise="gaussian", level=0.3, **f64),
        "tied": lambda: zoo.tied_ae(6, 3, **f64),
        "vae": lambda: zoo.vae(6, hidden=(5,), latent_dim=2, **f64),
        "vae-mse-beta": lambda: zoo.vae(6, hidden=(5, 4), latent_dim=3, recon="mse", beta=0.5, **f64),
        "conv": lambda: zoo.conv_ae((1, 4, 4), channels=(2, 3), **f64),
        "conv-transpose": lambda: zoo.conv_ae((1, 4, 4), channels=(2, 3), upsample="transpose", **f64),
        "conv-vae": lambda: zoo.conv_vae((1, 4, 4), latent_dim=2, channels=(2, 3), **f64),
    }


def randomise_biases(model, seed: int = 7):
    """Random biases (they start at 0): the check then runs at a generic point, not a symmetric one."""
    rng = np.random.default_rng(seed)
    for p in model.params():
        if p.name == "b":
            p.value[...] = rng.normal(scale=0.3, size=p.shape)
    return model


def kink_margin(model, x, eps, training) -> float:
    """Smallest distance to a kink in the forward pass that the gradient check will perturb around.

    The kinks: |input| of every ReLU, and the gap between the two largest entries of each 2x2 max-pool
    window whose maximum is positive (windows of ReLU zeros stay zero under the check's tiny steps).
    Written for the tiny zoo models of ``tiny_models()``: it assumes every MaxPool2D is 2x2 with stride 2
    on even sizes and follows a ReLU, as theirs do; other pooling is not measured.
    Each ReLU / MaxPool2D is watched for one training step by shadowing its ``forward`` with an
    instance attribute that records the gap and calls the method; the attribute is deleted afterwards.
    """

    gaps = []

    def relu_gap(x_in):
        return np.abs(x_in).min()

    def pool_gap(x_in):
        n, c, h, w = x_in.shape
        windows = x_in.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(-1, 4)
        top = np.sort(windows, axis=1)
        positive = top[:, -1] > 0
        return np.min(top[positive, -1] - top[positive, -2], initial=np.inf)

    def watch(layer, gap):
        method = layer.forward

        def watched(x_in, training=False):
            gaps.append(gap(x_in))
            return method(x_in, training)

        layer.forward = watched

    watched_layers = []
    for layer in model.flat_layers():
        if isinstance(layer, (ReLU, MaxPool2D)):
            watch(layer, pool_gap if isinstance(layer, MaxPool2D) else relu_gap)
            watched_layers.append(layer)
    try:
        reseed(model, 0)
        kw = {"eps": eps} if isinstance(model, VAE) else {}
        model.loss_and_backward(x, training=training, **kw)
        model.zero_grad()
    finally:
        for layer in watched_layers:
            del layer.forward
    return min(gaps, default=np.inf)


def kink_free_input(model, eps, training, n: int = 4, margin: float = 1e-3):
    """The first of a few random batches in [0.05, 0.95] whose forward pass stays ``margin`` from every kink."""
    shape = (n, *model.input_shape)
    for seed in range(30):
        x = np.random.default_rng(seed).uniform(0.05, 0.95, size=shape)
        if kink_margin(model, x, eps, training) > margin:
            return x
    raise RuntimeError(f"kink_free_input({model!r}): no batch of 30 tries stays {margin} away from every kink")


def check_tiny_model(name: str, seed: int = 0):
    """Whole-model gradient check of the tiny instance ``name`` of ``tiny_models()``.

    Every Param's gradient of the total loss (reconstruction + penalties + weight decay, or the VAE's
    reconstruction + KL with its noise eps fixed) against finite differences, at 1e-6: a whole model
    chains many layers, so rounding in its loss is a little larger than in one layer's.
    """

    model = randomise_biases(tiny_models()[name]())
    kw = {}
    if isinstance(model, VAE):
        kw["eps"] = np.random.default_rng(seed + 1).normal(size=(4, model.latent_dim))
    training = name.startswith("denoising")  # the noise is re-seeded before every evaluation
    x = kink_free_input(model, kw.get("eps"), training)
    return check_model(model, None, x, training=training, max_checks=25, tol=1e-6, seed=seed, **kw)


def model_cases(seed: int = 0, names=None):
    """Whole-model checks of the zoo; a name like "vae" also selects its variants ("vae-mse-beta")."""
    available = list(tiny_models())
    if names:
        chosen = [m for m in available if any(m == n or m.startswith(f"{n}-") for n in names)]
        unknown = [n for n in names if not any(m == n or m.startswith(f"{n}-") for m in available)]
        if unknown:
            raise ValueError(f"tinyae gradcheck --model: unknown model {', '.join(map(repr, unknown))}; "
                             f"choose from {', '.join(available)}")
    else:
        chosen = available
    return [Case(f"model {name}", "model", lambda name=name: check_tiny_model(name, seed)) for name in chosen]


def run_cases(cases, verbose=False, out=print):
    """Run the cases, print one line each (or the full table), return the reports by name."""
    reports = {}
    width = max(len(c.name) for c in cases) + 2
    if not verbose:  # the one-line-per-case table's header (-v prints each case's whole report instead)
        out(f"{'case':<{width}} {'max rel err':>11}  {'time':>6}  result")
    for case in cases:
        start = time.perf_counter()
        report = case.run()
        seconds = time.perf_counter() - start
        reports[case.name] = report
        if verbose:
            out(str(report))
        else:
            result = "ok" if report.passed else "FAIL"
            out(f"{case.name:<{width}} {report.max_error:>11.2e}  {seconds:>5.2f}s  {result}")
            for line in report.failures():
                out(f"    {line}")
    failed = [name for name, r in reports.items() if not r.passed]
    tols = " or ".join(f"{t:.0e}" for t in sorted({r.tol for r in reports.values()}))
    out(f"\n{len(reports) - len(failed)} passed, {len(failed)} failed "
        f"(float64, random upstream gradient, tolerance {tols})")
    return reports
