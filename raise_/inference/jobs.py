"""Inference transforms in ``CREATE JOB``: ``TRANSFORM name AS INFERENCE (setting = value, ...)``.

A job stores its transform as settings (literals and lists of literals), so an inference
transform is written as its parts and rebuilt from them where the job runs:

* the model: ``uri``, ``framework``, ``precision`` and, when given, ``version``, ``task``,
  ``description``, ``input_schema`` / ``output_schema`` (flat ``(column, dtype, ...)`` lists);
  or, for ``@inference_transform``, ``function = 'module:qualified_name'`` (a function decorated
  in this process is found by that name too);
* the accelerator: ``accelerator`` (cpu, gpu, tpu), ``gpu_type``, ``tpu_type``, ``count``,
  ``memory_gb``, ``strategy``, ``cores``;
* ``batch_<option>`` for each batch option that differs from the defaults;
* ``input_mapping`` / ``output_mapping`` as flat ``(from, to, ...)`` lists;
* ``option_<name>`` for the transform's options (an LLM's ``max_tokens``, ``temperature``);
* ``runtime_image``, ``runtime_python_version``, ``runtime_packages``, ``runtime_env``
  (flat pairs), ``runtime_warmup_batches``.

>>> from raise_.inference import embedding_inference
>>> kind, settings = embedding_inference("hf://org/model", "text", "embedding").job_transform()
>>> kind, settings[:2]
('inference', (('uri', 'hf://org/model'), ('framework', 'huggingface')))
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from grammar.errors import ValidationError
from raise_.inference.spec import AcceleratorConfig, GPUType, InferenceRuntime, ModelSpec, TPUType
from raise_.inference.transform import InferenceTransform
from raise_.jobs.base import imported
from udfs.infer.records import BatchConfig

KIND = "inference"
BAD_SETTINGS = "RAISE-V560"
BAD_FUNCTION = "RAISE-V561"

_MODEL = ("uri", "framework", "precision", "version", "task", "description", "input_schema", "output_schema")
_ACCELERATOR = ("accelerator", "gpu_type", "tpu_type", "count", "memory_gb", "strategy", "cores")
_RUNTIME = ("runtime_image", "runtime_python_version", "runtime_packages", "runtime_env", "runtime_warmup_batches")
_OTHER = ("function", "input_mapping", "output_mapping")
#: Functions decorated with ``@inference_transform`` in this process, by ``module:qualname``.
_FUNCTIONS: dict[str, Callable] = {}


def function_path(function: Callable) -> str:
    """``module:qualified_name`` of a transform function, remembered for this process."""
    path = f"{function.__module__}:{function.__qualname__}"
    _FUNCTIONS[path] = function
    return path


def job_settings(transform: InferenceTransform) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """The ``TRANSFORM ... AS INFERENCE (...)`` kind and settings of ``transform``."""
    settings: list[tuple[str, Any]] = []
    if transform.model is not None:
        model = transform.model
        settings += [("uri", model.uri), ("framework", model.framework.value), ("precision", model.precision.value)]
        settings += _present(version=model.version, task=model.task, description=model.description,
                             input_schema=_pairs(model.input_schema), output_schema=_pairs(model.output_schema))
    else:
        settings.append(("function", function_path(transform.function)))
    accelerator = transform.accelerator
    settings.append(("accelerator", accelerator.kind))
    settings += _present(gpu_type=accelerator.gpu_type and accelerator.gpu_type.value,
                         tpu_type=accelerator.tpu_type and accelerator.tpu_type.value,
                         count=accelerator.count if accelerator.count != 1 else None,
                         memory_gb=accelerator.memory_gb, strategy=accelerator.strategy, cores=accelerator.cores)
    settings += [(f"batch_{name}", value) for name, value in transform.batch_config.options()]
    settings += _present(input_mapping=_pairs(transform.input_mapping),
                         output_mapping=_pairs(transform.output_mapping))
    settings += [(f"option_{name}", value) for name, value in transform.options.items()]
    if transform.runtime is not None:
        runtime = transform.runtime
        settings += _present(runtime_image=runtime.image, runtime_python_version=runtime.python_version,
                             runtime_packages=runtime.packages or None, runtime_env=_pairs(runtime.env_vars),
                             runtime_warmup_batches=runtime.warmup_batches or None)
    return KIND, tuple(settings)


def inference_from_settings(name: str, settings: Mapping[str, Any]) -> InferenceTransform:
    """The transform of ``TRANSFORM name AS INFERENCE (settings)``."""
    known = {*_MODEL, *_ACCELERATOR, *_RUNTIME, *_OTHER}
    unknown = sorted(k for k in settings if k not in known and not k.startswith(("batch_", "option_")))
    if unknown or ("uri" in settings) == ("function" in settings):
        raise ValidationError(f"transform {name!r}: an INFERENCE transform takes uri= (a model) or function= "
                              f"and the settings {', '.join(sorted(known))}, batch_<option>, option_<name>"
                              + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
                              code=BAD_SETTINGS, name=unknown[0] if unknown else name)
    try:
        return InferenceTransform(
            name=name, model=_model(settings), function=_function(settings.get("function")),
            accelerator=_accelerator(settings),
            batch_config=BatchConfig(**{k[len("batch_"):]: v for k, v in settings.items() if k.startswith("batch_")}),
            input_mapping=_mapping(settings.get("input_mapping")), output_mapping=_mapping(settings.get("output_mapping")),
            runtime=_runtime(settings), options={k[len("option_"):]: v for k, v in settings.items()
                                                 if k.startswith("option_")},
        )
    except TypeError as error:
        raise ValidationError(f"transform {name!r}: {error}", code=BAD_SETTINGS, name=name) from None


def _model(settings: Mapping[str, Any]) -> ModelSpec | None:
    if "uri" not in settings:
        return None
    return ModelSpec(uri=settings["uri"], framework=settings.get("framework"),
                     precision=settings.get("precision", "fp32"), version=settings.get("version"),
                     task=settings.get("task"), description=settings.get("description"),
                     input_schema=_mapping(settings.get("input_schema")) or None,
                     output_schema=_mapping(settings.get("output_schema")) or None)


def _accelerator(settings: Mapping[str, Any]) -> AcceleratorConfig:
    gpu, tpu = settings.get("gpu_type"), settings.get("tpu_type")
    return AcceleratorConfig(kind=settings.get("accelerator", "cpu"), gpu_type=GPUType(gpu) if gpu else None,
                             tpu_type=TPUType(tpu) if tpu else None, count=settings.get("count", 1),
                             memory_gb=settings.get("memory_gb"), strategy=settings.get("strategy"),
                             cores=settings.get("cores"))


def _runtime(settings: Mapping[str, Any]) -> InferenceRuntime | None:
    if not any(k in settings for k in _RUNTIME):
        return None
    return InferenceRuntime(image=settings.get("runtime_image"),
                            python_version=settings.get("runtime_python_version"),
                            packages=_listed(settings.get("runtime_packages")),
                            env_vars=_mapping(settings.get("runtime_env")),
                            warmup_batches=settings.get("runtime_warmup_batches", 0))


def _function(path: str | None) -> Callable | None:
    if path is None:
        return None
    if path in _FUNCTIONS:
        return _FUNCTIONS[path]
    try:
        found = imported(path)
    except (ImportError, AttributeError, ValueError):
        raise ValidationError(f"cannot import the inference function {path!r}: it must be a module-level "
                              "function importable where the job runs", code=BAD_FUNCTION, name=path) from None
    function = found.function if isinstance(found, InferenceTransform) else found
    if not callable(function):
        raise ValidationError(f"{path!r} is not a function", code=BAD_FUNCTION, name=path)
    return function


def _present(**values: Any) -> list[tuple[str, Any]]:
    return [(name, value) for name, value in values.items() if value is not None]


def _pairs(mapping: Mapping[str, Any] | None) -> tuple[Any, ...] | None:
    """A mapping as a flat ``(key, value, ...)`` list (settings hold no mappings)."""
    return tuple(item for pair in mapping.items() for item in pair) if mapping else None


def _listed(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _mapping(value: Any) -> dict[str, Any]:
    items = _listed(value)
    if len(items) % 2:
        raise ValidationError(f"a mapping setting is a flat list of (key, value) pairs, got {items!r}",
                              code=BAD_SETTINGS, name=str(items[:1]))
    return dict(zip(items[::2], items[1::2]))

