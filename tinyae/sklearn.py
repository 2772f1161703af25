"""scikit-learn estimators: a tinyae autoencoder that drops into a ``Pipeline``.

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from tinyae.sklearn import AutoencoderTransformer

    clf = make_pipeline(AutoencoderTransformer("ae", hidden=8, epochs=20, random_state=0), LogisticRegression())
    clf.fit(X_train, y_train).score(X_test, y_test)       # logistic regression on 8 learned features

``AutoencoderTransformer`` follows scikit-learn's estimator conventions: the constructor stores its
arguments untouched; ``fit`` validates them and the data, builds the zoo model, trains it with
``tinyae.train.fit`` and sets the trailing-underscore attributes; ``get_params`` / ``set_params`` /
``clone`` / ``GridSearchCV`` work as for any scikit-learn transformer. Rows of X are samples, columns are
features; a conv model sees each row reshaped to ``image_shape`` (C, H, W).

    transform(X)          the code, one row per sample (a VAE's mean code mu; a conv code flattened)
    inverse_transform(Z)  the decoder's reconstruction from codes, in data space (rows like X)
    score_samples(X)      MINUS the per-sample reconstruction error mean_j (x̂_j - x_j)^2: as in
                          scikit-learn, higher means more typical, so an anomaly score is -score_samples(X)
    score(X)              the mean of score_samples: the negative mean reconstruction error
    get_feature_names_out ["autoencodertransformer0", "autoencodertransformer1", ...]

Saving. ``est.save("model.npz")`` writes tinyae's checkpoint format (``tinyae.io``: arrays plus JSON, never
pickle) with the estimator's parameters and fitted attributes in its ``extra``; ``AutoencoderTransformer.load``
gives back a fitted estimator, and ``tinyae.io.load`` on the same file gives the bare model. Pickling the
estimator (``pickle``, ``joblib``, what ``GridSearchCV(n_jobs=...)`` does to send it to workers) also works,
as for any scikit-learn estimator: it stores the whole object, ``model_`` and its arrays included. Loading
a pickle can run code, so use ``save``/``load`` for files that travel.
"""

from __future__ import annotations

import inspect
import math
import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from tinyae import io, train, zoo
from tinyae.layers.base import check_positive_int
from tinyae.optim import Adam

__all__ = ["AutoencoderTransformer"]

# What ``hidden`` (the code size) means for each zoo model: the builder argument it sets.
HIDDEN_ARGUMENT = {
    "ae": "n_hidden",
    "sparse-l1": "n_hidden",
    "sparse-kl": "n_hidden",
    "denoising": "n_hidden",
    "tied": "n_hidden",
    "stacked": "sizes",  # an int k: sizes (n_features, k); a tuple: the sizes themselves (the last is the code)
    "dbn": "sizes",  # as "stacked" (trained from a random start: fit does no RBM pretraining)
    "vae": "latent_dim",
    "conv-vae": "latent_dim",
    "conv": "channels",  # an int c: channels (16, c), the code is c x H/4 x W/4; a pair: the channels
    "conv-sparse": "channels",  # as "conv"
    "hashing": "n_bits",
}
# The zoo models whose input is an image (C, H, W): they need image_shape (tests/test_sklearn.py checks this
# list against zoo.build).
CONV_MODELS = zoo.IMAGE_MODELS
SIZES_MODELS = ("stacked", "dbn")  # hidden may be a tuple of layer sizes
CHANNEL_MODELS = ("conv", "conv-sparse")  # hidden may be a pair of channels
# Builder arguments the estimator sets itself (from its own parameters); model_params must not repeat them.
RESERVED = ("n_in", "image_shape", "seed", "dtype", "n_hidden", "sizes", "latent_dim", "channels")
EXTRA_KEY = "sklearn"  # the key of the estimator's record in a checkpoint's ``extra``
BATCH = 1024  # samples per step of inverse_transform (as tinyae.train.predict/encode)


def _model_key(name):
    """A zoo model name as ``zoo.build`` spells it ("sparse_kl" -> "sparse-kl")."""
    return name.lower().replace("_", "-") if isinstance(name, str) else name



def _check_builder_arguments(key, kw):
    """Every key of model_params is an argument of the zoo builder (its signature, read by ``inspect``)."""
    builder = zoo.builder(key)
    params = list(inspect.signature(builder).parameters.values())[1:]  # the first is the input size or shape
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    known = [p.name for p in params if p.name not in RESERVED]
    for name in kw:
        if name not in known:
            raise ValueError(f"AutoencoderTransformer: model_params: model {key!r} (zoo.{builder.__name__}) takes no "
                             f"argument {name!r}; it takes {', '.join(known)}")


class AutoencoderTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """A tinyae zoo autoencoder as a scikit-learn transformer: ``transform`` gives the code.

    Parameters
    ----------
    model : str, default "ae"
        A ``tinyae.zoo`` model name (``zoo.MODELS``): "ae", "stacked", "sparse-l1", "sparse-kl",
        "denoising", "vae", "conv", "conv-vae", "tied", ...
    hidden : int, tuple of int or None, default None
        The code size: n_hidden of "ae", "sparse-l1", "sparse-kl", "denoising", "tied"; latent_dim of "vae"
        and "conv-vae"; n_bits of "hashing"; for "stacked" and "dbn" an int k means sizes (n_features, k) and
        a tuple is the sizes (the last is the code); for "conv" and "conv-sparse" an int c means channels
        (16, c) (a code of c x H/4 x W/4 numbers) and a pair is the channels. None: the builder's default
        (see ``tinyae.zoo``).
    epochs : int, default 20
    batch_size : int, default 32
    lr : float, default 1e-3
        The learning rate of Adam.
    random_state : int, RandomState instance or None, default None
        Seeds the weights, the shuffling and any noise (denoising corruption, a VAE's sampling).
        An int s gives the same model at every fit: exactly ``tinyae.zoo.build(model, ..., seed=s)`` trained
        by ``tinyae.train.fit(..., seed=s)`` with Adam(lr); None draws seeds from NumPy's global random state.
    image_shape : tuple (C, H, W) or None, default None
        For the conv models (required there): each row of X is reshaped to this image; C*H*W must equal
        the number of features, and H and W must be divisible by 4.
    model_params : dict or None, default None
        Further keyword arguments of the zoo builder, e.g. {"rho": 0.05} for "sparse-kl",
        {"recon": "mse", "beta": 0.5} for "vae", {"output": "linear"} for "ae" on standardised data.
    dtype : "float32" or "float64", default "float32"
        The model's dtype; X is cast to it, and transform returns it.
    verbose : int, default 0
        Passed to ``tinyae.train.fit`` (0 silent, 1 a progress bar or a line per epoch).

    Attributes
    ----------
    model_ : tinyae.models.Autoencoder or VAE
        The trained model (``tinyae.train.predict(est.model_, ...)``, ``tinyae.io.save``, ...).
    history_ : tinyae.train.History
        The training losses per epoch.
    code_shape_ : tuple
        One sample's code as the model produces it (``(hidden,)`` for dense models, (c, H/4, W/4) for "conv").
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had feature names (a DataFrame with string column names).

    The data must suit the model's output: the sigmoid and BCE outputs ("ae", "sparse-kl", "tied",
    "denoising", "stacked", "vae", the conv models) reconstruct values in [0, 1] (scale with
    ``MinMaxScaler``; BCE models refuse other values); for standardised data use a linear output
    (model_params={"output": "linear"}, or {"recon": "mse"} for a VAE).
    """

    def __init__(self, model="ae", hidden=None, *, epochs=20, batch_size=32, lr=1e-3, random_state=None,
                 image_shape=None, model_params=None, dtype="float32", verbose=0):
        self.model = model
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state
        self.image_shape = image_shape
        self.model_params = model_params
        self.dtype = dtype
        self.verbose = verbose

    # -- scikit-learn plumbing --------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            dtype = self._dtype()
        except ValueError:
            dtype = np.dtype(np.float32)
        tags.transformer_tags.preserves_dtype = [dtype.name]  # transform returns the model's dtype
        return tags

    @property
    def _n_features_out(self):
        """The width of transform's output (used by ``get_feature_names_out``)."""
        return math.prod(self.code_shape_)

    # -- checking the parameters ------------------------------------------------------------------
    def _dtype(self) -> np.dtype:
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"AutoencoderTransformer: dtype must be 'float32' or 'float64', got {self.dtype!r}")
        return dtype

    def _check_params(self, n_features):
        """Every parameter checked, before any work; returns (zoo name, input shape, builder kwargs, dtype)."""
        key = _model_key(self.model)
        if key not in zoo.MODELS:
            raise ValueError(f"AutoencoderTransformer: model must be one of {', '.join(zoo.MODELS)}, "
                             f"got {self.model!r}")
        check_positive_int(self.epochs, "epochs", "AutoencoderTransformer")
        check_positive_int(self.batch_size, "batch_size", "AutoencoderTransformer")
        if (isinstance(self.lr, bool) or not isinstance(self.lr, numbers.Real) or not math.isfinite(self.lr)
                or self.lr <= 0):
            raise ValueError(f"AutoencoderTransformer: lr must be a finite number > 0, got {self.lr!r}")
        if isinstance(self.verbose, bool) or not isinstance(self.verbose, numbers.Integral) or self.verbose < 0:
            raise ValueError(f"AutoencoderTransformer: verbose must be an int >= 0, got {self.verbose!r}")
        dtype = self._dtype()
        input_shape = (n_features,)
        if self.image_shape is not None:
            shape = tuple(self.image_shape) if isinstance(self.image_shape, (tuple, list)) else ()
            if len(shape) != 3 or not all(isinstance(s, numbers.Integral) and s >= 1 for s in shape):
                raise ValueError(f"AutoencoderTransformer: image_shape must be (C, H, W), e.g. (1, 8, 8), "
                                 f"got {self.image_shape!r}")
            if math.prod(shape) != n_features:
                raise ValueError(f"AutoencoderTransformer: image_shape {tuple(shape)} has {math.prod(shape)} "
                                 f"pixels but X has {n_features} features; they must be equal")
            input_shape = tuple(int(s) for s in shape)
        elif key in CONV_MODELS:
            raise ValueError(f"AutoencoderTransformer: model={self.model!r} takes images: pass image_shape=(C, H, W) "
                             f"with C*H*W = {n_features} features (e.g. (1, 8, 8) for the 8x8 digits)")
        kw = {} if self.model_params is None else self.model_params
        if not isinstance(kw, dict):
            raise ValueError(f"AutoencoderTransformer: model_params must be a dict of zoo builder arguments or None, "
                             f"got {type(kw).__name__}")
        reserved = sorted(set(kw) & set(RESERVED))
        if reserved:
            raise ValueError(f"AutoencoderTransformer: model_params must not set {reserved}: use the estimator's "
                             f"hidden, image_shape, random_state and dtype parameters")
        _check_builder_arguments(key, kw)
        kw = {**kw, **self._hidden_argument(key, n_features)}
        return key, input_shape, kw, dtype

    def _hidden_argument(self, key, n_features) -> dict:
        """``hidden`` as the zoo builder's argument (see the class docstring), or {} for None."""
        hidden = self.hidden
        if hidden is None:
            return {}
        if key not in HIDDEN_ARGUMENT:
            raise ValueError(f"AutoencoderTransformer: hidden has no meaning for model {self.model!r}; "
                             f"set its sizes through model_params")
        arg = HIDDEN_ARGUMENT[key]
        if isinstance(hidden, (tuple, list)) and key in SIZES_MODELS + CHANNEL_MODELS:
            sizes = tuple(check_positive_int(h, "each entry of hidden", "AutoencoderTransformer") for h in hidden)
            if key in CHANNEL_MODELS and len(sizes) != 2:
                raise ValueError(f"AutoencoderTransformer: hidden for {self.model!r} is an int (code channels) or a "
                                 f"pair of channels, got {hidden!r}")
            if not sizes:
                raise ValueError(f"AutoencoderTransformer: hidden for {self.model!r} must list at least one size")
            return {arg: sizes}
        if isinstance(hidden, bool) or not isinstance(hidden, numbers.Integral) or hidden < 1:
            kind = "a positive int or a tuple of them" if key in SIZES_MODELS + CHANNEL_MODELS else "a positive int"
            raise ValueError(f"AutoencoderTransformer: hidden (the code size) must be {kind} for model "
                             f"{self.model!r}, got {hidden!r}")
        hidden = int(hidden)
        if key in SIZES_MODELS:
            return {arg: (n_features, hidden)}
        if key in CHANNEL_MODELS:
            return {arg: (16, hidden)}
        return {arg: hidden}

    # -- fitting ----------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Build the zoo model for X's features and train it on X (y is ignored: no labels are used)."""
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        key, input_shape, kw, dtype = self._check_params(X.shape[1])
        weight_seed, shuffle_seed = self._seeds()
        model = zoo.build(key, input_shape, seed=weight_seed, dtype=dtype, **kw)
        X = self._to_model(X, model, dtype)
        self.history_ = train.fit(model, X, epochs=int(self.epochs), batch_size=int(self.batch_size),
                                  optimizer=Adam(model.params(), lr=float(self.lr)), seed=shuffle_seed,
                                  verbose=int(self.verbose))
        self.model_ = model
        self.code_shape_ = tuple(int(s) for s in train.encode(model, X[:1]).shape[1:])
        return self

    def _seeds(self):
        """(weight seed, shuffle seed): an int random_state s is used as is for both, so the model is exactly
        ``zoo.build(model, shape, seed=s)`` trained by ``tinyae.train.fit(..., seed=s)``; None or a RandomState
        gives two draws from it."""
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            if rs < 0:
                raise ValueError(f"AutoencoderTransformer: random_state must be an int >= 0, a RandomState or None, "
                                 f"got {rs!r}")
            return int(rs), int(rs)
        return tuple(int(s) for s in check_random_state(rs).randint(np.iinfo(np.int32).max, size=2))

    def _to_model(self, X, model, dtype):
        """Rows (N, n_features) -> the model's input: contiguous, its dtype, images (N, C, H, W) for a conv model."""
        X = np.ascontiguousarray(X, dtype=dtype)
        shape = tuple(model.input_shape) if getattr(model, "input_shape", None) is not None else (X.shape[1],)
        return X.reshape(len(X), *shape)

    def _checked(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self._to_model(X, self.model_, self._model_dtype())

    def _model_dtype(self):
        return next(iter(self.model_.params())).value.dtype

    # -- using the model --------------------------------------------------------------------------
    def transform(self, X):
        """The code of every row of X, (n_samples, prod(code_shape_)); a VAE's mean code mu."""
        Xm = self._checked(X)  # first: an unfitted estimator raises NotFittedError
        codes = train.encode(self.model_, Xm)
        return codes.reshape(len(codes), -1)

    def inverse_transform(self, X):
        """Reconstructions from codes (n_samples, prod(code_shape_)) -> rows like the fitted X, in data space."""
        check_is_fitted(self)
        Z = self._check_codes(X)
        rows = [self.model_.decode(Z[a:a + BATCH]) for a in range(0, len(Z), BATCH)]
        out = np.concatenate(rows)
        return out.reshape(len(out), -1)

    def _check_codes(self, Z):
        Z = check_array(Z, dtype=[np.float64, np.float32], input_name="codes")
        width = math.prod(self.code_shape_)
        if Z.shape[1] != width:
            raise ValueError(f"AutoencoderTransformer.inverse_transform: expected codes with {width} columns "
                             f"(what transform returns), got shape {Z.shape}")
        return np.ascontiguousarray(Z, dtype=self._model_dtype()).reshape(len(Z), *self.code_shape_)

    def score_samples(self, X):
        """Minus each sample's reconstruction error, -mean_j (x̂_j - x_j)^2 (higher = more typical), float64."""
        Xm = self._checked(X)  # first: before fit, NotFittedError (not an AttributeError on model_)
        return -train.reconstruction_errors(self.model_, Xm)

    def score(self, X, y=None):
        """The negative mean reconstruction error over X (y is ignored): higher is better, as scikit-learn wants."""
        return float(self.score_samples(X).mean())

    # -- saving -----------------------------------------------------------------------------------
    def save(self, path):
        """Write the fitted estimator to ``path`` (.npz, tinyae's checkpoint format: no pickle). Returns the Path."""
        check_is_fitted(self)
        params = self.get_params()
        if not (self.random_state is None or isinstance(self.random_state, numbers.Integral)):
            params["random_state"] = None  # a RandomState object was consumed by fit; it is not data
        params["dtype"] = self._dtype().name
        if params["image_shape"] is not None:
            params["image_shape"] = [int(s) for s in params["image_shape"]]
        if isinstance(params["hidden"], tuple):
            params["hidden"] = list(params["hidden"])
        record = {"class": type(self).__name__, "params": params, "n_features_in_": int(self.n_features_in_),
                  "code_shape_": list(self.code_shape_)}
        if hasattr(self, "feature_names_in_"):
            record["feature_names_in_"] = [str(n) for n in self.feature_names_in_]
        return io.save(path, self.model_, history=self.history_, extra={EXTRA_KEY: record})

    @classmethod
    def load(cls, path):
        """The fitted estimator saved by ``save`` (``tinyae.io.load_checkpoint`` underneath: nothing runs)."""
        ck = io.load_checkpoint(path)
        record = ck.extra.get(EXTRA_KEY) if isinstance(ck.extra, dict) else None
        if not isinstance(record, dict) or record.get("class") != cls.__name__:
            raise ValueError(f"{cls.__name__}.load({str(path)!r}): this tinyae checkpoint was not written by "
                             f"{cls.__name__}.save; load the bare model with tinyae.io.load")
        params = dict(record["params"])
        for name in ("image_shape", "hidden"):
            if isinstance(params.get(name), list):
                params[name] = tuple(params[name])
        est = cls(**params)
        est.model_ = ck.model
        est.history_ = ck.history
        est.n_features_in_ = int(record["n_features_in_"])
        est.code_shape_ = tuple(record["code_shape_"])
        if "feature_names_in_" in record:
            est.feature_names_in_ = np.asarray(record["feature_names_in_"], dtype=object)
        return est
