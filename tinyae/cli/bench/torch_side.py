"""Measuring PyTorch on the same networks, trained by the loop ``fit`` runs.

PyTorch is never a dependency of tinyae: it is imported inside the functions here, only when
``--compare torch`` asks for it.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from tinyae.cli.bench.networks import LATENT, synthetic_data


def build_torch_model(net: str):
    """The same architecture in PyTorch: (module, step function (xb) -> loss tensor)."""
    import torch
    from torch import nn

    if net == "dense":
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU(),
                              nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 784))
        bce = nn.BCEWithLogitsLoss()
        return model, lambda xb: bce(model(xb), xb)
    if net == "conv":
        def conv(c_in, c_out):
            return nn.Conv2d(c_in, c_out, 3, padding=1)

        model = nn.Sequential(conv(1, 16), nn.ReLU(), nn.MaxPool2d(2), conv(16, 8), nn.ReLU(), nn.MaxPool2d(2),
                              conv(8, 8), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
                              conv(8, 16), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"), conv(16, 1))
        bce = nn.BCEWithLogitsLoss()
        return model, lambda xb: bce(model(xb), xb)
    if net == "vae":
        encoder = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 2 * LATENT))
        decoder = nn.Sequential(nn.Linear(LATENT, 256), nn.ReLU(), nn.Linear(256, 784))
        model = nn.ModuleList([encoder, decoder])
        bce = nn.BCEWithLogitsLoss(reduction="sum")

        def step(xb):
            mu, logvar = encoder(xb).chunk(2, dim=1)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            n = xb.shape[0]
            kl = -0.5 * torch.sum(1 + logvar - mu * mu - logvar.exp()) / n
            return bce(decoder(z), xb) / n + kl

        return model, step
    raise ValueError(f"build_torch_model: unknown network {net!r}")


class TorchTrainer:
    """``net`` in PyTorch, trained by the loop ``fit`` runs (one shuffle per epoch, slices, one sync per
    step), one epoch per ``epoch()`` call."""

    def __init__(self, net: str, args):
        import torch

        torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        self.device = "cpu"
        if args.backend == "gpu":
            if not torch.cuda.is_available():
                raise SystemExit("tinyae bench: --backend gpu --compare torch needs a CUDA build of torch")
            self.device = "cuda"
        self.net, self.args, self.torch = net, args, torch
        self.model, self.step = build_torch_model(net)
        self.model.to(self.device)
        self.X = torch.from_numpy(synthetic_data(net, args.n, args.seed)).to(self.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.losses = []

    def epoch(self) -> float:
        torch, args = self.torch, self.args
        t0 = time.perf_counter()
        e = len(self.losses)
        order = torch.from_numpy(np.random.default_rng([args.seed, e]).permutation(args.n)).to(self.device)
        Xe = self.X[order]
        total = 0.0
        for s in range(0, args.n, args.batch_size):
            xb = Xe[s:s + args.batch_size]
            self.opt.zero_grad()
            loss = self.step(xb)
            loss.backward()
            total += loss.item() * xb.shape[0]  # the one sync per step, as in fit
            self.opt.step()
        seconds = time.perf_counter() - t0
        self.losses.append(total / args.n)
        return seconds

    def result(self, times: list, split: bool = False) -> dict:
        return {"side": "torch", "net": self.net, "epoch_times": times, "median": statistics.median(times),
                "threads": {"torch": self.torch.get_num_threads()}, "losses": self.losses,
                "torch": self.torch.__version__}


def measure_torch(net: str, args, split: bool = False) -> dict:
    """Train ``net`` in PyTorch in this process; return the epoch times."""
    trainer = TorchTrainer(net, args)
    times = [trainer.epoch() for _ in range(args.warmup + args.epochs)]
    return trainer.result(times[args.warmup:])
