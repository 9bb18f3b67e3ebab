"""The benchmark's models, each with a full-precision twin (``binary=False``).

Public API (the training engine depends on these names):

- :data:`MODELS`: ``name -> ModelSpec(name, description, accepts, factory, options, ...)``
  for ``mlp``, ``binarynet``, ``cnn1d``, ``cnn2d``, ``bireal_resnet18``.
- :func:`build_model`: ``(name, input_shape, num_classes, *, binary=True, **options) ->
  nn.Module``; raises :class:`~benchmark.errors.BnnBenchError` on unknown names/options or an
  input shape the model does not accept.
- :func:`count_parameters`: ``{"binary", "real", "total"}`` trainable parameter counts.
- :func:`describe_models`: rows for ``bnnbench list``.

Binary layers are :mod:`benchmark.binary` layers, so
:func:`benchmark.binary.binary_parameters` finds them. docs/workloads.md documents each model.
"""

from benchmark.models.registry import (
    MODELS,
    ModelSpec,
    build_model,
    count_parameters,
    describe_models,
)

__all__ = ["MODELS", "ModelSpec", "build_model", "count_parameters", "describe_models"]
