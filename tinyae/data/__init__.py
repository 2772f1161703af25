"""Datasets, the IDX file format, corruptions for denoising autoencoders, and input validation.

    ds = load("digits")                   # 8x8 digits bundled with scikit-learn: works offline
    ds = load("mnist")                    # 28x28 MNIST, downloaded once into a cache directory
    ds = load("fashion-mnist", flatten=False)   # images as (N, 1, 28, 28) for conv models
    ds.X_train, ds.y_train, ds.X_val, ds.y_val, ds.X_test, ds.y_test

Every split keeps its labels (aligned with the images), for plots and downstream classifiers.
Images are float in [0, 1] (float32 by default); labels are int64.

Where each job lives: ``registry`` (the datasets, their mirrors and checksums), ``cache`` (where the files
are kept, their verification and download), ``idx`` (the IDX codec), ``loading`` (``load``, ``Dataset``,
the splits, ``to_images``/``flatten_images``), ``corruptions`` (noise for denoising), ``samples``
(``check_samples``, the validation of user data).
"""

from tinyae.data.cache import dataset_dir, default_data_dir, sha256_of
from tinyae.data.corruptions import gaussian_noise, masking_noise, random_mask, salt_and_pepper
from tinyae.data.idx import IDX_TYPES, load_idx, save_idx
from tinyae.data.loading import DIGITS_TEST_FRACTION, Dataset, flatten_images, load, to_images
from tinyae.data.registry import DATASETS, REMOTE_DATASETS, DatasetUnavailableError, RemoteDataset, RemoteFile
from tinyae.data.samples import check_samples

__all__ = [
    "DATASETS",
    "DIGITS_TEST_FRACTION",
    "IDX_TYPES",
    "REMOTE_DATASETS",
    "Dataset",
    "DatasetUnavailableError",
    "RemoteDataset",
    "RemoteFile",
    "check_samples",
    "dataset_dir",
    "default_data_dir",
    "flatten_images",
    "gaussian_noise",
    "load",
    "load_idx",
    "masking_noise",
    "random_mask",
    "salt_and_pepper",
    "save_idx",
    "sha256_of",
    "to_images",
]
