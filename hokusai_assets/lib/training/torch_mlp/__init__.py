"""The torch model family: an MLP for tabular classification and regression.

Modules: ``hyperparameters`` (defaults and checks), ``network`` (the network, the fitted
estimator and its model-file form), ``checkpoints`` (resumable training state). The fit
itself is ``lib/training/torch_trainer.py``, with the same contract as the scikit-learn
trainer: rows of the task schema in, a ``TrainedModel`` out, and the same rows,
hyperparameters and seed always give the same model file bytes on CPU.

How determinism is kept:
- initial weights come from ``torch.manual_seed(seed)`` inside ``fork_rng`` (the caller's
  global RNG is left as it was); batch order comes from a dedicated ``torch.Generator``;
  nothing else draws random numbers (no dropout), so that generator's state is the only
  RNG state a checkpoint needs;
- ``torch.use_deterministic_algorithms(True)`` and one intra-op thread while fitting and
  predicting (both restored afterwards), so summation order does not depend on the core
  count;
- dtypes are fixed: preprocessing (standardisation) is float64 numpy arithmetic, the
  network and its inputs are float32;
- the model file is always written from CPU tensors; a CUDA run differs from a CPU run
  only by the floating-point results of the device, never by the file layout.

Checkpoints: after every epoch, weights, Adam's state tensors and the shuffle generator's
state go into one safetensors file under ``checkpoint_dir`` (written atomically),
named by a key over the data fingerprint, hyperparameters, seed and device. A fit that
finds a checkpoint with its key resumes after the checkpoint's epoch and ends with the
same bytes as a fit that was never interrupted. The checkpoint is removed once the fit
completes. Nothing is pickled: optimizer state is flattened into tensors plus JSON.

``torch`` is imported inside functions only: importing it costs about a second, which the
scikit-learn path must not pay.
"""

