"""The optimizer registry: one table, name -> :class:`OptimizerSpec`.

Each spec gives the factory (``factory(param_groups, **hparams) -> Optimizer``), the default
hyper-parameters (flat scalars: ``beta1``/``beta2`` rather than a ``betas`` tuple, so that each
one can be tuned), the default search space, the kind (``"latent"``: updates real-valued latent
weights, sees every tensor; ``"latent-free"``: flips binary weights directly and hands the
real-valued tensors to a companion optimizer) and a one-line description.

A name of the form ``package.module:Class`` is a plug-in: a user's ``torch.optim.Optimizer``
subclass, kind ``"latent"``, no defaults and no default search space (the suite must give one);
its accepted hyper-parameters are the keyword arguments of its ``__init__``.

Search spaces (the suite YAML uses the same format) map a hyper-parameter to one of::

    {"low": 1e-5, "high": 1e-1, "log": true}     # float, log-uniform if log (step sizes)
    {"low": 1, "high": 8, "int": true}            # integer (optionally "log": true)
    {"choices": ["adam", "sgd"]}                  # categorical

Latent-free optimizers also accept ``fp_optimizer`` (the companion's registry name, default
``"adam"``) and ``fp_<key>`` for any hyper-parameter ``<key>`` of the companion (``fp_lr``,
default 1e-3, is in their default search space).

**Size.** About 600 lines, most of them the table itself: ten entries written with keywords,
each with its defaults, search space, checks and factory; splitting the table would scatter
what a reader compares across optimizers.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from benchmark.binary.names import QUANTIZATION_ERRORS
from benchmark.errors import BnnBenchError, closest, unknown_name
from benchmark.options import FINITE_RULE, is_finite_value
from benchmark.search_space import Dimension, DimensionError

if TYPE_CHECKING:
    from torch.optim import Optimizer

Kind = Literal["latent", "latent-free"]
Check = Callable[[Any], str | None]
FP_PREFIX = "fp_"


@dataclass(frozen=True, kw_only=True)
class OptimizerSpec:
    """One registry entry, built with keyword arguments only.

    ``checks`` maps a hyper-parameter to a function returning an error text for a bad value
    (``None`` if fine); ``extra_hparams`` are accepted but neither defaulted nor tunable (e.g.
    BAMSProd's ``bound`` callable); ``accepts_any`` marks a plug-in whose ``__init__`` takes
    ``**kwargs``. ``object_hparams`` configure the optimizer object itself rather than its
    parameter groups (BAMSProd's ``error`` and ``bound``): one object cannot hold two values
    of them (see :func:`benchmark.optim.routing.make_multipart_optimizer`). ``reads_binary_flag``
    marks an optimizer whose update depends on the parameter groups' ``binary`` flag (BAMSProd);
    for the others the flag only labels the groups. ``elementwise`` marks an update rule under
    which each element evolves from its own gradients and the group's options alone (no
    per-tensor reduction such as BAMSProd's error), so independent problems may share a tensor.
    ``implementation`` says which code runs the update (:func:`implementation_of` resolves
    it for a device and is what each run's environment records); ``"fused"`` means torch's
    single-kernel ``fused=True`` where torch offers it for the device (:data:`FUSED_DEVICES`),
    else ``foreach=True``. ``takes_planned_steps`` marks a factory that accepts the run's
    planned step count ``planned_steps`` (not a hyper-parameter: it is not in the run id;
    :func:`benchmark.optim.routing.make_optimizer` passes it, for the auto rule of the
    compiled update, :func:`benchmark.optim.fused.worth_compiling`).
    """

    name: str
    kind: Kind
    defaults: dict[str, Any]
    search_space: dict[str, dict[str, Any]]
    description: str
    factory: Callable[..., Optimizer]  # imports torch (and the optimizer's module) when called
    checks: dict[str, Check] = field(default_factory=dict)
    extra_hparams: tuple[str, ...] = ()
    accepts_any: bool = False
    object_hparams: tuple[str, ...] = ()
    reads_binary_flag: bool = False
    elementwise: bool = False
    implementation: str = "bnnbench foreach"
    takes_planned_steps: bool = False

    @property
    def own_hparams(self) -> list[str]:
        """Hyper-parameter names this optimizer itself accepts (without ``fp_*`` keys)."""
        return [*self.defaults, *self.extra_hparams]


# ---------------------------------------------------------------------- value checks
def _is_real(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _real(
    low: float, high: float | None = None, low_open: bool = False, high_open: bool = True
) -> Check:
    """A number in the interval given (``high=None``: unbounded above)."""

    def check(x: Any) -> str | None:
        if not _is_real(x):
            return "must be a number"
        if x < low or (low_open and x == low):
            return f"must be {'>' if low_open else '>='} {low}"
        if high is not None and (x > high or (high_open and x == high)):
            return f"must be {'<' if high_open else '<='} {high}"
        return None

    return check


def _integer(low: int) -> Check:
    def check(x: Any) -> str | None:
        if not isinstance(x, int) or isinstance(x, bool):
            return "must be an integer"
        return None if x >= low else f"must be >= {low}"

    return check


def _boolean(x: Any) -> str | None:
    return None if isinstance(x, bool) else "must be true or false"


def _bamsprod_error(x: Any) -> str | None:
    if callable(x) or x in QUANTIZATION_ERRORS:
        return None
    return f"must be one of {', '.join(QUANTIZATION_ERRORS)} or a callable"


def _fused(x: Any) -> str | None:
    return None if x is None or isinstance(x, bool) else "must be true, false or null"


def _bound(x: Any) -> str | None:
    return None if x is None or callable(x) else "must be a callable or null"


def _companion(x: Any) -> str | None:
    if not isinstance(x, str):
        return "must be an optimizer name"
    try:
        spec = get_optimizer_spec(x)
    except BnnBenchError as exc:
        return str(exc)
    return None if spec.kind == "latent" else "must name a latent-weight optimizer"


NONNEG = _real(0.0)
POSITIVE = _real(0.0, low_open=True)
BETA = _real(0.0, 1.0)
RATE = _real(0.0, 1.0, low_open=True, high_open=False)
LR_SPACE = {"low": 1e-5, "high": 1e-1, "log": True}
FINAL_LR_SPACE = {"low": 1e-3, "high": 1.0, "log": True}
FP_LR_SPACE = {"low": 1e-5, "high": 1e-1, "log": True}
ADAM_CHECKS: dict[str, Check] = {
    "lr": NONNEG,
    "beta1": BETA,
    "beta2": BETA,
    "eps": NONNEG,
    "weight_decay": NONNEG,
}
BOUND_CHECKS: dict[str, Check] = {**ADAM_CHECKS, "final_lr": NONNEG, "gamma": POSITIVE}


# ---------------------------------------------------------------------- factories
#: device types whose torch.optim ``fused=True`` kernels exist (torch's
#: ``_get_fused_kernels_supported_devices()``, stated here without importing torch; a test
#: keeps the two equal)
FUSED_DEVICES: tuple[str, ...] = (
    "mps",
    "cuda",
    "xpu",
    "hpu",
    "cpu",
    "mtia",
    "privateuseone",
)


#: ``implementation`` of bnnbench's own optimizers: the foreach path, or the compiled update
#: (:mod:`benchmark.optim.fused`) with ``fused=True`` on :data:`COMPILED_DEVICES`
BNNBENCH = "bnnbench"
#: devices where bnnbench's compiled updates run (inductor backends), and the smallest tensor
#: each optimizer's compiled update takes by default (:data:`benchmark.optim.fused.MIN_ELEMENTS`;
#: measured break-even against the foreach path, docs/performance.md)
COMPILED_DEVICES: tuple[str, ...] = ("cpu", "cuda")
COMPILED_MIN_ELEMENTS: dict[str, int] = {"bamsprod": 1 << 16, "bop": 1 << 17, "bop2nd": 1 << 17}


def _fused_or_foreach(params: Any) -> tuple[list[Any], dict[str, bool]]:
    """``(params, {"fused": True})`` when every tensor is a floating-point tensor on a device
    of :data:`FUSED_DEVICES`, else ``(params, {"foreach": True})`` (params and each group's
    tensors materialised as lists, so a generator is not consumed twice)."""
    items = [
        {**item, "params": list(item["params"])} if isinstance(item, dict) else item
        for item in params
    ]
    tensors = [t for item in items for t in (item["params"] if isinstance(item, dict) else [item])]
    fused = bool(tensors) and all(
        t.device.type in FUSED_DEVICES and t.is_floating_point() for t in tensors
    )
    return items, ({"fused": True} if fused else {"foreach": True})


def _adam(amsgrad: bool, decoupled: bool) -> Callable[..., Optimizer]:
    def make(
        params: Any, *, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float
    ) -> Optimizer:
        import torch

        cls = torch.optim.AdamW if decoupled else torch.optim.Adam
        params, kernel = _fused_or_foreach(params)
        return cls(
            params,
            lr=lr,
            betas=(beta1, beta2),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            **kernel,
        )

    return make


def _sgd(
    params: Any, *, lr: float, momentum: float, nesterov: bool, weight_decay: float
) -> Optimizer:
    import torch

    params, kernel = _fused_or_foreach(params)
    return torch.optim.SGD(
        params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, **kernel
    )


def _radam(
    params: Any, *, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float
) -> Optimizer:
    import torch

    return torch.optim.RAdam(
        params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay, foreach=True
    )


def _adabound(ams_bound: bool) -> Callable[..., Optimizer]:
    def make(
        params: Any,
        *,
        lr: float,
        final_lr: float,
        beta1: float,
        beta2: float,
        gamma: float,
        eps: float,
        weight_decay: float,
    ) -> Optimizer:
        from pytorch_optimizer import AdaBound  # imports sympy too: only when built

        return AdaBound(
            params,
            lr=lr,
            final_lr=final_lr,
            betas=(beta1, beta2),
            gamma=gamma,
            eps=eps,
            weight_decay=weight_decay,
            weight_decouple=False,
            ams_bound=ams_bound,
        )

    return make


def _bamsprod(
    params: Any,
    *,
    lr: float,
    final_lr: float,
    beta1: float,
    beta2: float,
    gamma: float,
    eps: float,
    weight_decay: float,
    error: Any,
    error_every: int,
    bound: Any = None,
    fused: bool | None = None,
    planned_steps: int | None = None,
) -> Optimizer:
    from benchmark.optim.bamsprod import BAMSProd

    return BAMSProd(
        params,
        lr=lr,
        betas=(beta1, beta2),
        final_lr=final_lr,
        gamma=gamma,
        eps=eps,
        weight_decay=weight_decay,
        error=error,
        bound=bound,
        error_every=error_every,
        fused=fused,
        planned_steps=planned_steps,
    )


def _bop(
    params: Any,
    *,
    threshold: float,
    gamma: float,
    fused: bool | None = None,
    planned_steps: int | None = None,
) -> Optimizer:
    from benchmark.optim.bop import Bop

    return Bop(params, threshold=threshold, gamma=gamma, fused=fused, planned_steps=planned_steps)


def _bop2nd(
    params: Any,
    *,
    threshold: float,
    gamma: float,
    sigma: float,
    bias_correction: bool,
    fused: bool | None = None,
    planned_steps: int | None = None,
) -> Optimizer:
    from benchmark.optim.bop import Bop2ndOrder

    return Bop2ndOrder(
        params,
        threshold=threshold,
        gamma=gamma,
        sigma=sigma,
        bias_correction=bias_correction,
        fused=fused,
        planned_steps=planned_steps,
    )


# ---------------------------------------------------------------------- the table
_ADAM_DEFAULTS = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}
_BOUND_DEFAULTS = {**_ADAM_DEFAULTS, "final_lr": 0.1, "gamma": 1e-3}
_FP_DEFAULTS = {"fp_optimizer": "adam", "fp_lr": 1e-3}
_FP_CHECKS: dict[str, Check] = {"fp_optimizer": _companion}

OPTIMIZERS: dict[str, OptimizerSpec] = {
    spec.name: spec
    for spec in [
        OptimizerSpec(
            name="bamsprod",
            kind="latent",
            defaults={**_BOUND_DEFAULTS, "error": "xnor_l1", "error_every": 1},
            search_space={"lr": LR_SPACE, "final_lr": FINAL_LR_SPACE},
            description=(
                "BAMSProd (reconstruction): AMSBound whose range width scales with the "
                "quantization error"
            ),
            factory=_bamsprod,
            checks={
                **BOUND_CHECKS,
                "error": _bamsprod_error,
                "error_every": _integer(1),
                "bound": _bound,
                "fused": _fused,
            },
            extra_hparams=("bound", "fused"),
            object_hparams=("error", "bound", "fused"),
            reads_binary_flag=True,
            implementation=BNNBENCH,
            takes_planned_steps=True,
        ),
        OptimizerSpec(
            name="bop",
            kind="latent-free",
            defaults={"threshold": 1e-8, "gamma": 1e-4, **_FP_DEFAULTS},
            search_space={
                "threshold": {"low": 1e-10, "high": 1e-5, "log": True},
                "gamma": {"low": 1e-6, "high": 1e-2, "log": True},
                "fp_lr": FP_LR_SPACE,
            },
            description=(
                "Bop (Helwegen et al. 2019): flip w where w*m > threshold; real tensors to "
                "fp_optimizer"
            ),
            factory=_bop,
            checks={"threshold": NONNEG, "gamma": RATE, "fused": _fused, **_FP_CHECKS},
            extra_hparams=("fused",),
            object_hparams=("fused",),
            implementation=BNNBENCH,
            takes_planned_steps=True,
        ),
        OptimizerSpec(
            name="bop2nd",
            kind="latent-free",
            defaults={
                "threshold": 1e-6,
                "gamma": 1e-6,
                "sigma": 1e-2,
                "bias_correction": False,
                **_FP_DEFAULTS,
            },
            search_space={
                "threshold": {"low": 1e-8, "high": 1e-4, "log": True},
                "gamma": {"low": 1e-8, "high": 1e-4, "log": True},
                "sigma": {"low": 1e-4, "high": 1e-1, "log": True},
                "fp_lr": FP_LR_SPACE,
            },
            description=(
                "Bop2ndOrder (Suarez-Ramirez et al. 2021): flip where w*m/(sqrt(v)+eps) > threshold"
            ),
            factory=_bop2nd,
            checks={
                "threshold": NONNEG,
                "gamma": RATE,
                "sigma": RATE,
                "bias_correction": _boolean,
                "fused": _fused,
                **_FP_CHECKS,
            },
            extra_hparams=("fused",),
            object_hparams=("fused",),
            implementation=BNNBENCH,
            takes_planned_steps=True,
        ),
        OptimizerSpec(
            name="adam",
            kind="latent",
            defaults=dict(_ADAM_DEFAULTS),
            search_space={"lr": LR_SPACE},
            description="Adam (Kingma & Ba 2015), torch.optim.Adam",
            factory=_adam(amsgrad=False, decoupled=False),
            checks=ADAM_CHECKS,
            elementwise=True,
            implementation="fused",
        ),
        OptimizerSpec(
            name="amsgrad",
            kind="latent",
            defaults=dict(_ADAM_DEFAULTS),
            search_space={"lr": LR_SPACE},
            description="AMSGrad (Reddi et al. 2018), torch.optim.Adam(amsgrad=True)",
            factory=_adam(amsgrad=True, decoupled=False),
            checks=ADAM_CHECKS,
            elementwise=True,
            implementation="fused",
        ),
        OptimizerSpec(
            name="adamw",
            kind="latent",
            defaults={**_ADAM_DEFAULTS, "weight_decay": 1e-2},
            search_space={"lr": LR_SPACE, "weight_decay": {"low": 1e-5, "high": 1e-1, "log": True}},
            description="AdamW (Loshchilov & Hutter 2019), torch.optim.AdamW",
            factory=_adam(amsgrad=False, decoupled=True),
            checks=ADAM_CHECKS,
            elementwise=True,
            implementation="fused",
        ),
        OptimizerSpec(
            name="sgd",
            kind="latent",
            defaults={"lr": 1e-2, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0},
            search_space={
                "lr": {"low": 1e-4, "high": 1.0, "log": True},
                "momentum": {"low": 0.0, "high": 0.99},
            },
            description="SGD with (optionally Nesterov) momentum, torch.optim.SGD",
            factory=_sgd,
            checks={"lr": NONNEG, "momentum": BETA, "nesterov": _boolean, "weight_decay": NONNEG},
            elementwise=True,
            implementation="fused",
        ),
        OptimizerSpec(
            name="adabound",
            kind="latent",
            defaults=dict(_BOUND_DEFAULTS),
            search_space={"lr": LR_SPACE, "final_lr": FINAL_LR_SPACE},
            description=(
                "AdaBound (Luo et al. 2019), pytorch_optimizer.AdaBound, coupled L2 as in the paper"
            ),
            factory=_adabound(ams_bound=False),
            checks=BOUND_CHECKS,
            elementwise=True,
            implementation="pytorch_optimizer (per tensor)",
        ),
        OptimizerSpec(
            name="amsbound",
            kind="latent",
            defaults=dict(_BOUND_DEFAULTS),
            search_space={"lr": LR_SPACE, "final_lr": FINAL_LR_SPACE},
            description=(
                "AMSBound (Luo et al. 2019), pytorch_optimizer.AdaBound(ams_bound=True), coupled L2"
            ),
            factory=_adabound(ams_bound=True),
            checks=BOUND_CHECKS,
            elementwise=True,
            implementation="pytorch_optimizer (per tensor)",
        ),
        OptimizerSpec(
            name="radam",
            kind="latent",
            defaults=dict(_ADAM_DEFAULTS),
            search_space={"lr": LR_SPACE},
            description="RAdam (Liu et al. 2020), torch.optim.RAdam",
            factory=_radam,
            checks=ADAM_CHECKS,
            elementwise=True,
            implementation="torch foreach (no fused RAdam in torch)",
        ),
    ]
}


# ---------------------------------------------------------------------- look-up
def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _plugin_spec(name: str, where: str) -> OptimizerSpec:
    """Import ``package.module:Class`` and describe it as a latent-weight plug-in (this, and
    the plug-in itself, import torch)."""
    from torch.optim import Optimizer

    module_name, _, attr = name.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, ValueError) as exc:
        raise BnnBenchError(
            f"{_prefix(where)}cannot import optimizer plug-in '{name}': {type(exc).__name__}: {exc}"
        ) from None
    if not (inspect.isclass(obj) and issubclass(obj, Optimizer)):
        raise BnnBenchError(
            f"{_prefix(where)}optimizer plug-in '{name}' is not a torch.optim.Optimizer subclass"
        )
    parameters = list(inspect.signature(obj.__init__).parameters.values())[2:]  # self, params
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    keys = tuple(
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    )
    doc = (inspect.getdoc(obj) or "").strip().splitlines()
    return OptimizerSpec(
        name=name,
        kind="latent",
        defaults={},
        search_space={},
        description=f"plug-in {name}" + (f": {doc[0]}" if doc else ""),
        factory=obj,
        extra_hparams=keys,
        accepts_any=accepts_any,
    )


def implementation_of(
    name: str,
    device: str = "cpu",
    fp_optimizer: str | None = None,
    *,
    fused: bool | None = None,
    compile_failure: str | None = None,
) -> str:
    """Which code runs optimizer ``name``'s update on ``device`` (e.g. ``"cuda:0"``), from
    the registry's ``implementation`` alone (no torch import): ``"torch fused"`` /
    ``"torch foreach"`` for the ``"fused"`` entries, the companion's too for a latent-free
    optimizer (``"bnnbench foreach + adam: torch fused"``), ``"plug-in"`` for plug-ins.

    bnnbench's own optimizers (:data:`BNNBENCH`) say e.g. ``"bnnbench compiled (tensors >=
    65536 elements) + foreach"`` (BAMSProd and Bop on the CPU: ``"bnnbench compiled (C++
    kernel for float32) + foreach"``, :mod:`benchmark.optim.native`) for ``fused=True`` on a
    device of
    :data:`COMPILED_DEVICES`, ``"bnnbench foreach (compile failed: ...)"`` when
    ``compile_failure`` (:func:`benchmark.optim.fused.compile_failure` of the process that
    ran it) says torch.compile failed, else ``"bnnbench foreach"``. For ``fused=None`` (the
    default: the auto rule on the run's planned steps) the caller passes ``fused=True`` when
    the run did take the compiled path (:func:`benchmark.units.run_unit` does)."""
    if not isinstance(name, str) or ":" in name or name not in OPTIMIZERS:
        return "plug-in"
    spec = OPTIMIZERS[name]
    kind = spec.implementation
    on = str(device).split(":")[0]
    if kind == "fused":
        kind = "torch fused" if on in FUSED_DEVICES else "torch foreach"
    elif kind == BNNBENCH:
        kind = "bnnbench foreach"
        if fused is True and on in COMPILED_DEVICES:
            kind = (
                f"bnnbench foreach (compile failed: {compile_failure})"
                if compile_failure
                else f"bnnbench compiled (tensors >= {COMPILED_MIN_ELEMENTS[name]} elements) "
                "+ foreach"
            )
            if name in ("bamsprod", "bop") and on == "cpu" and not compile_failure:
                kind = "bnnbench compiled (C++ kernel for float32) + foreach"
    if spec.kind == "latent-free":
        companion = fp_optimizer or spec.defaults.get("fp_optimizer", "adam")
        kind += f" + {companion}: {implementation_of(companion, device)}"
    return kind


def get_optimizer_spec(name: str, where: str = "") -> OptimizerSpec:
    """The spec of a registered optimizer or of a ``package.module:Class`` plug-in."""
    if not isinstance(name, str):
        raise BnnBenchError(f"{_prefix(where)}optimizer name must be a string, got {name!r}")
    if name in OPTIMIZERS:
        return OPTIMIZERS[name]
    if ":" in name:
        return _plugin_spec(name, where)
    err = unknown_name("optimizer", name, OPTIMIZERS, where)
    raise BnnBenchError(f"{err}; or a plug-in 'package.module:Class'")


def is_latent_free(name: str) -> bool:
    """True for optimizers that flip binary weights directly (Bop, Bop2ndOrder)."""
    return get_optimizer_spec(name).kind == "latent-free"


def _companion_spec(
    name: str, spec: OptimizerSpec, hparams: dict[str, Any], where: str
) -> OptimizerSpec:
    fp_name = hparams.get("fp_optimizer", spec.defaults["fp_optimizer"])
    problem = _companion(fp_name)
    if problem:
        raise BnnBenchError(
            f"{_prefix(where)}optimizer '{name}': fp_optimizer={fp_name!r} {problem}"
        )
    return get_optimizer_spec(fp_name, where)


def allowed_hparams(name: str, hparams: dict[str, Any] | None = None, where: str = "") -> list[str]:
    """Keys ``name`` accepts; for a latent-free optimizer, ``fp_*`` keys follow the companion
    named by ``hparams["fp_optimizer"]`` (default ``"adam"``)."""
    spec = get_optimizer_spec(name, where)
    keys = list(spec.own_hparams)
    if spec.kind == "latent-free":
        companion = _companion_spec(name, spec, hparams or {}, where)
        keys += [f"{FP_PREFIX}{k}" for k in companion.own_hparams if f"{FP_PREFIX}{k}" not in keys]
    return keys


def _check_value(
    name: str, spec: OptimizerSpec, key: str, value: Any, hparams: dict, where: str
) -> None:
    """Raise if ``value`` is not valid for ``key`` (``fp_*`` keys: the companion's check; any
    key, a plug-in's too: :func:`is_finite_value`)."""
    if not is_finite_value(value):
        problem = f"must be finite; allowed: {FINITE_RULE}"
    elif key in spec.checks:
        problem = spec.checks[key](value)
    elif spec.kind == "latent-free" and key.startswith(FP_PREFIX):
        companion = _companion_spec(name, spec, hparams, where)
        check = companion.checks.get(key[len(FP_PREFIX) :])
        problem = check(value) if check else None
    else:
        problem = None
    if problem:
        raise BnnBenchError(f"{_prefix(where)}optimizer '{name}': {key}={value!r} {problem}")


def _check_keys(
    name: str, spec: OptimizerSpec, keys: Any, context: dict[str, Any], where: str
) -> None:
    """Raise naming the first of ``keys`` that ``name`` does not accept, with the allowed keys
    (``context`` names the companion for ``fp_*`` keys)."""
    if spec.accepts_any:
        return
    allowed = allowed_hparams(name, context, where)
    for key in keys:
        if key not in allowed:
            raise BnnBenchError(
                f"{_prefix(where)}optimizer '{name}' does not accept hyper-parameter "
                f"'{key}'{closest(str(key), allowed)}; allowed: {', '.join(allowed) or '(none)'}"
            )


def validate_hparams(name: str, hparams: dict[str, Any], where: str = "") -> None:
    """Raise :class:`BnnBenchError` naming the optimizer, the bad key and the allowed keys (or
    the bad value and what is allowed) unless ``hparams`` suits optimizer ``name``."""
    spec = get_optimizer_spec(name, where)
    if not isinstance(hparams, dict):
        raise BnnBenchError(
            f"{_prefix(where)}optimizer '{name}': hyper-parameters must be a mapping"
        )
    if "fp_optimizer" in hparams and spec.kind == "latent-free":
        _check_value(name, spec, "fp_optimizer", hparams["fp_optimizer"], hparams, where)
    _check_keys(name, spec, hparams, hparams, where)
    for key, value in hparams.items():
        _check_value(name, spec, key, value, hparams, where)


def _default_of(name: str, spec: OptimizerSpec, key: str, context: dict, where: str) -> Any:
    """The default value of ``key`` (``None`` if unknown, e.g. for plug-ins)."""
    if key in spec.defaults:
        return spec.defaults[key]
    if spec.kind == "latent-free" and key.startswith(FP_PREFIX):
        companion = _companion_spec(name, spec, context, where)
        return companion.defaults.get(key[len(FP_PREFIX) :])
    return None


def validate_search_space(
    name: str, space: dict[str, Any], where: str = "", fixed: dict[str, Any] | None = None
) -> None:
    """Raise :class:`BnnBenchError` unless ``space`` is a valid search space for ``name``.

    Every key must be a hyper-parameter the optimizer accepts (given ``fixed``, the suite's
    fixed hyper-parameters, e.g. a fixed ``fp_optimizer``); a range needs numeric ``low <
    high`` (integers with ``int: true``) and ``low > 0`` when ``log``; ``choices`` must be a
    non-empty list of valid values. Ranges are checked against the value rules too.
    """
    spec = get_optimizer_spec(name, where)
    prefix = f"{_prefix(where)}optimizer '{name}' search space"
    if not isinstance(space, dict):
        raise BnnBenchError(f"{prefix} must be a mapping of hyper-parameter -> range")
    fixed = dict(fixed or {})
    companions = [fixed.get("fp_optimizer")] if "fp_optimizer" in fixed else [None]
    entry = space.get("fp_optimizer")
    if (
        spec.kind == "latent-free"
        and isinstance(entry, dict)
        and isinstance(entry.get("choices"), list)
    ):
        companions = list(entry["choices"]) or [None]
    for companion in companions:
        context = dict(fixed)
        if companion is not None:
            context["fp_optimizer"] = companion
        for key, dist in space.items():
            _validate_dimension(name, spec, key, dist, context, where, prefix)


def _validate_dimension(
    name: str, spec: OptimizerSpec, key: str, dist: Any, context: dict, where: str, prefix: str
) -> None:
    """One range of a search space: its shape and bounds
    (:class:`benchmark.search_space.Dimension`), then this optimizer's rules: a numeric key,
    ``int`` as the default's type, each bound or choice a valid value."""
    _check_keys(name, spec, [key], context, where)
    try:
        dim = Dimension.parse(dist)
    except DimensionError as exc:
        raise BnnBenchError(f"{prefix}: {exc.at(key)}") from None
    if dim.choices is not None:
        for choice in dim.choices:
            validate_hparams(name, {**context, key: choice}, where)
        return
    default = _default_of(name, spec, key, context, where)
    if isinstance(default, bool | str) or (default is None and key in spec.defaults):
        raise BnnBenchError(f"{prefix}: '{key}' is not numeric; use {{choices: [...]}}")
    if isinstance(default, int) and not dim.integer:
        raise BnnBenchError(f"{prefix}: '{key}' is an integer; add int: true")
    if isinstance(default, float) and dim.integer:
        raise BnnBenchError(f"{prefix}: '{key}' is a float; drop int: true")
    for bound in (dim.low, dim.high):
        validate_hparams(name, {**context, key: bound}, where)
