"""The datasets tinyae can fetch: where their files come from, what they must hash to, what they hold."""

from __future__ import annotations

from typing import NamedTuple


class RemoteFile(NamedTuple):
    """One published file: its name, the SHA-256 and size in bytes of the ``.gz``, the parsed array's shape."""

    filename: str
    sha256: str
    size: int
    shape: tuple


class RemoteDataset(NamedTuple):
    """A dataset published as four IDX files, the mirrors that serve them (tried in order) and class names."""

    mirrors: tuple
    files: dict  # role ("train_images", "train_labels", "test_images", "test_labels") -> RemoteFile
    classes: tuple


REMOTE_DATASETS = {
    "mnist": RemoteDataset(
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",  # PyTorch's mirror
            "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow's mirror
            "http://yann.lecun.com/exdb/mnist/",  # the original site (often refuses scripts now)
        ),
        files={
            "train_images": RemoteFile(
                "train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                9912422,
                (60000, 28, 28),
            ),
            "train_labels": RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                28881,
                (60000,),
            ),
            "test_images": RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                1648877,
                (10000, 28, 28),
            ),
            "test_labels": RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                4542,
                (10000,),
            ),
        },
        classes=tuple(str(d) for d in range(10)),
    ),
    "fashion-mnist": RemoteDataset(
        mirrors=(
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's own (HTTP only)
        ),
        files={
            "train_images": RemoteFile(
                "train-images-idx3-ubyte.gz",
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                26421880,
                (60000, 28, 28),
            ),
            "train_labels": RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                29515,
                (60000,),
            ),
            "test_images": RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                4422102,
                (10000, 28, 28),
            ),
            "test_labels": RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                5148,
                (10000,),
            ),
        },
        classes=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
    ),
}

DATASETS = ("digits", *REMOTE_DATASETS)


class DatasetUnavailableError(RuntimeError):
    """A dataset's files are missing and could not be downloaded, or a file is damaged (bad checksum)."""
