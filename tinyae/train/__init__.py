"""Training: ``fit`` runs mini-batch gradient descent on an autoencoder; ``predict``/``encode``/``evaluate``
run a trained one over a dataset in batches.

    history = fit(model, X_train, epochs=20, batch_size=128, validation_data=X_val,
                  early_stopping=EarlyStopping(patience=3))
    history.loss, history.val_loss, history.terms["reconstruction"]
    X_hat = predict(model, X_test)                 # reconstructions, 1024 samples at a time
    scores = evaluate(model, X_test)               # {"loss": ..., "reconstruction": ..., ...}

One training step (``loop.fit``):

    model.zero_grad()
    L = model.loss_and_backward(x_batch, target_batch, training=True)    # forward, loss, backward
    float(L)                                                             # the ONE host sync per step
    optimizer.step()                                                     # update

``float(L)`` is needed anyway (for the progress bar), and it is where a blow-up is caught: a NaN or Inf
loss stops training with a ``TrainingError`` that names the epoch, the step and the term that exploded,
BEFORE the optimizer step. (On the CPU the layers themselves refuse NaN/Inf inputs, so a blow-up inside the
model arrives as their ValueError; ``fit`` turns it into the same TrainingError, as it does the KL sparsity
penalty's refusal of a code driven to exactly 0 or 1.) Which weights the model keeps then: see below.

Bad input is refused before the first step, by ``tinyae.data.check_samples`` (see
``checks.check_samples_for_model``): non-numeric data, NaN/Inf, a shape the model cannot take, and, for a
model trained with BCE or BCE-with-logits, targets outside [0, 1] (an error, not a warning: the loss would
be meaningless).

The model is any object with ``loss_and_backward``, ``evaluate_loss``, ``terms``, ``params``,
``zero_grad``, ``train``/``eval``, ``reconstruct`` and ``encode`` (``tinyae.models.Autoencoder`` and
``VAE``); nothing here knows which autoencoder it trains.

Reproducibility and resuming. Epoch e (counted from 0) is shuffled by its own generator,
``np.random.default_rng([seed, e])``, not by one generator carried from epoch to epoch, so the order of
epoch e can be recreated without replaying epochs 0..e-1. Together with the optimizer state and the
random state of noise layers (both saved by ``tinyae.io.save``), ``fit(..., initial_epoch=k)`` on a model
loaded from a checkpoint written after epoch k continues with exactly the losses of an uninterrupted run.

Stopping early, by hand. Ctrl-C during ``fit`` (in the main thread) finishes the current step, then
stops: the returned History has ``interrupted=True`` (it lists the completed epochs) and, when validation
data was given, the model holds the weights of its best validation epoch so far. A second Ctrl-C stops at
once, in the middle of the step's forward or backward pass (which change no weight), but never cuts an
optimizer update or the restoring of the best weights in half: it waits for their end. A KeyboardInterrupt
raised by a callback is treated the same way. Either way ``fit`` returns normally, so a script can go on to
save what was learned; ``HoldCtrlC`` keeps a Ctrl-C that comes after fit has returned from stopping that
save (``tinyae train`` uses it).

When training diverges (a NaN/Inf loss, or a model that refuses its own values), ``fit`` raises a
``TrainingError`` after putting back weights KNOWN to give a finite loss, and says which: those of the best
validation epoch, else those at the start of the epoch (its step 1 gave a finite loss), else those at the
start of the previous epoch. The weights of the failing step are not kept: they are the ones that gave the
NaN (or whose update poisoned the next step).

Where each job lives: ``loop`` (fit), ``checks`` (what is refused before the first step), ``history``
(History, EarlyStopping, callbacks), ``inference`` (predict, encode, evaluate), ``progress`` (the bar or
lines), ``interrupt`` (Ctrl-C), ``rescue`` (the weights kept for Ctrl-C and divergence, TrainingError).
"""

from tinyae.train.checks import check_samples_for_model
from tinyae.train.history import EarlyStopping, History
from tinyae.train.inference import DEFAULT_EVAL_BATCH, encode, evaluate, predict, reconstruction_errors
from tinyae.train.interrupt import HoldCtrlC
from tinyae.train.loop import epoch_order, fit
from tinyae.train.progress import bars_visible, in_notebook
from tinyae.train.rescue import TrainingError

__all__ = [
    "DEFAULT_EVAL_BATCH",
    "EarlyStopping",
    "HoldCtrlC",
    "History",
    "TrainingError",
    "bars_visible",
    "check_samples_for_model",
    "encode",
    "epoch_order",
    "evaluate",
    "fit",
    "in_notebook",
    "predict",
    "reconstruction_errors",
]
