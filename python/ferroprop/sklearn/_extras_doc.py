"""The part of the estimators' docstrings that describes what ferroprop adds to scikit-learn."""

EXTRAS_DOC = """
    Extras beyond scikit-learn (keyword-only; with their defaults the network, and so every
    number, is scikit-learn's):

    dropout : float in [0, 1), default 0.0
        Inverted dropout (`torch.nn.Dropout`) after every hidden activation, active only while
        `fit` / `partial_fit` train: each hidden unit is kept with probability `1 - dropout`
        and scaled by `1 / (1 - dropout)`; `predict`, `predict_proba` and `score` use the
        whole network. The masks are drawn from a seed taken from `random_state` (after the
        initial weights, which are those of the same model without dropout) and a step
        counter that goes on across `partial_fit` calls, warm starts, pickling and model
        files, so a fixed `random_state` gives the same model. Needs a stochastic solver:
        with `solver="lbfgs"`, `fit` raises ValueError, since the line search compares loss
        values that would each see another mask.
    normalization : None, "layer" or "batch", default None
        A normalisation layer between every hidden Dense and its activation: "layer" is
        `torch.nn.LayerNorm` (per row), "batch" `torch.nn.BatchNorm1d` (batch statistics
        while training, and running statistics, momentum 0.1, in `predict`). Their learnable
        scale and shift and BatchNorm's running statistics are the fitted attribute
        `norm_state_`: one dict per hidden layer, `{"weight", "bias"[, "running_mean",
        "running_var", "num_batches_tracked"]}` (torch's names), kept like `coefs_` by warm
        starts, `partial_fit`, pickling and model files. With "batch", every training batch
        needs at least 2 rows (PyTorch's rule: a `batch_size` leaving a last batch of one row
        raises ValueError). `solver="lbfgs"` trains on the whole set at once, so a BatchNorm
        normalises with the statistics of the whole training set, which then become its
        running statistics. `alpha` penalises the Dense weights only.

    diagnostics : bool or ferroprop.diagnostics.Thresholds, default False
        Records per-layer training diagnostics each epoch, those of
        `ferroprop.Network.fit(diagnostics=True)` (see `ferroprop.history.Diagnostics`):
        `grad_norm`, `weight_norm` and `update_ratio` of layers with parameters; `mean`,
        `std` and `dead_fraction` (relu, leaky_relu) or `saturated_fraction` (logistic, tanh)
        of activation layers; `gamma_mean` and `gamma_std` of normalisation layers. They go
        into `diagnostics_`, and `ferroprop.TrainingWarning`s (vanishing gradients, dead
        units, too large updates and, with `validation_data`, overfitting) are issued at the
        line that called `fit`, each kind at most once per `fit` call (the `partial_fit`
        calls after a `fit`, or after the first one, count as one run). A
        `ferroprop.diagnostics.Thresholds(...)` turns them on with other warning thresholds.
        The model trained is the same, bit for bit, either way; only the time per epoch
        grows. Only effective with `solver='sgd'` or `'adam'`.

    With dropout or BatchNorm, `sample_weight` is not equivalent to repeating samples (the
    masks are drawn per row, and BatchNorm's statistics are unweighted, as PyTorch's).

    Fitted attribute of the extras:

    diagnostics_ : ferroprop.history.Diagnostics or None
        With `diagnostics` on, `diagnostics_[layer][metric]` is that metric's list of values,
        one per epoch (layer names those of `ferroprop.Network.state_dict`: "0", "1", ...;
        `diagnostics_.table()` shows them). Like `loss_curve_`, it starts again with every
        fresh fit and grows with `warm_start` fits and `partial_fit` calls;
        `diagnostics_.epochs` are the 1-based positions of its epochs in `loss_curve_`.
        None when a fit (or `partial_fit` call) ran with `diagnostics=False`, and with
        `solver='lbfgs'`, which has no epochs. Pickles and model files keep it.
"""
