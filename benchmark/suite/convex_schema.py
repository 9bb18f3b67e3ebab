"""The ``convex:`` section of a ``task: convex`` suite, as part of the suite schema: keys,
defaults and their rules (docs/convex.md). Torch-free: the optimizer registry, which the entry
checks consult, is imported only when a section is validated.

:mod:`benchmark.tasks.convex` turns a validated :class:`ConvexSection` into runs (and
re-exports these names)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from benchmark.errors import BnnBenchError
from benchmark.options import FINITE_RULE, is_finite_value, seed_list
from benchmark.suite.limits import Seed

Form = Literal["real", "binary", "stochastic"]
FORMS: tuple[str, ...] = ("real", "binary", "stochastic")
LrScheduleName = Literal["constant", "inv_sqrt"]
REDDI = "reddi"
"""Value of ``beta2`` meaning Reddi et al.'s :math:`\\beta_2 = 1 / (1 + C^2)` (C of the form)."""

DEFAULT_OPTIMIZERS: list[dict[str, Any]] = [
    {"name": "adam", "hparams": {"lr": 0.5, "beta1": 0.0, "beta2": REDDI}},
    {"name": "amsgrad", "hparams": {"lr": 0.5, "beta1": 0.0, "beta2": REDDI}},
    {"name": "adabound", "hparams": {"lr": 0.5, "beta1": 0.0, "beta2": REDDI}},
    {"name": "amsbound", "hparams": {"lr": 0.5, "beta1": 0.0, "beta2": REDDI}},
    {"name": "bamsprod", "hparams": {"lr": 0.5, "beta1": 0.0, "beta2": REDDI, "error": "sign_l1"}},
    {"name": "sgd", "hparams": {"lr": 0.5, "momentum": 0.0}},
    {"name": "bop", "hparams": {}},
]


def _finite(value: Any) -> Any:
    """The finiteness rule of :func:`benchmark.options.is_finite_value`, at the value's key."""
    if not is_finite_value(value):
        raise ValueError(f"must be finite; allowed: {FINITE_RULE}")
    return value


Finite = Annotated[Any, AfterValidator(_finite)]
FiniteFloat = Annotated[float, AfterValidator(_finite)]


class ConvexOptimizer(BaseModel):
    """One optimizer of the convex section: a registry name (or ``package.module:Class``),
    fixed hyper-parameters (``beta2: reddi`` resolves per form to :math:`1/(1 + C^2)`), an
    optional display ``label`` (default: the name; must be unique) and optional ``forms``
    (default: the section's forms; latent-free optimizers such as Bop: binary only)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    hparams: dict[str, Finite] = Field(default_factory=dict)
    label: str | None = None
    forms: list[Form] | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @property
    def display(self) -> str:
        return self.label or self.name


class ConvexSection(BaseModel):
    """The ``convex:`` section of a ``task: convex`` suite (see docs/convex.md). Floats are
    finite, seeds in numpy's range; the upper limits of ``steps`` and ``checkpoints`` and the
    run count are the suite loader's (:data:`benchmark.suite.LIMITS`)."""

    model_config = ConfigDict(extra="forbid")

    forms: list[Form] = Field(default_factory=lambda: list(FORMS), min_length=1)
    optimizers: list[ConvexOptimizer] = Field(
        default_factory=lambda: [ConvexOptimizer.model_validate(o) for o in DEFAULT_OPTIMIZERS],
        min_length=1,
    )
    C: FiniteFloat = Field(3.0, gt=2.0)
    delta: FiniteFloat = Field(0.1, gt=0.0)
    C_stochastic: FiniteFloat = Field(10.0, gt=0.0)
    steps: int = Field(100_000, ge=10)
    seeds: list[Seed] = Field(default_factory=lambda: list(range(5)), min_length=1)
    checkpoints: int = Field(200, ge=2)
    lr_schedule: LrScheduleName = "inv_sqrt"
    x0: FiniteFloat = Field(1.0, ge=-1.0, le=1.0)
    regret_tol: FiniteFloat = Field(0.05, gt=0.0)
    x_tol: FiniteFloat = Field(0.5, gt=0.0, le=2.0)

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_count(cls, value: Any) -> Any:
        """``seeds: 5`` means ``[0, 1, 2, 3, 4]``."""
        return seed_list(value)

    @field_validator("seeds", "forms")
    @classmethod
    def _distinct(cls, value: list[Any], info: ValidationInfo) -> list[Any]:
        if len(set(value)) != len(value):
            raise ValueError(f"{info.field_name} must be distinct")
        return value

    @model_validator(mode="after")
    def _check(self) -> ConvexSection:
        if self.delta >= self.C_stochastic:
            raise ValueError(
                f"delta={self.delta} must be < C_stochastic={self.C_stochastic} "
                "(the probability (1 + delta) / (C_stochastic + 1) of the C loss must be < 1)"
            )
        labels = [o.display for o in self.optimizers]
        for label in labels:
            if labels.count(label) > 1:
                raise ValueError(
                    f"optimizer label '{label}' appears twice; give the entries distinct 'label's"
                )
        for entry in self.optimizers:
            _check_entry(entry, self)
        return self

    def optimizer_forms(self, entry: ConvexOptimizer) -> list[str]:
        """The forms ``entry`` runs on (its own ``forms``, else the section's; latent-free
        optimizers default to the binary form only)."""
        if entry.forms is not None:
            return [f for f in FORMS if f in entry.forms]
        forms = [f for f in FORMS if f in self.forms]
        return [f for f in forms if f == "binary"] if _latent_free(entry.name) else forms

    def form_C(self, form: str) -> float:
        return self.C_stochastic if form == "stochastic" else self.C


def _latent_free(name: str) -> bool:
    from benchmark.optim import is_latent_free

    return is_latent_free(name)


def resolve_hparams(hparams: dict[str, Any], C: float) -> dict[str, Any]:
    """``hparams`` with ``beta2: reddi`` replaced by :math:`1 / (1 + C^2)`."""
    out = dict(hparams)
    if out.get("beta2") == REDDI:
        out["beta2"] = 1.0 / (1.0 + C * C)
    return out


def _check_entry(entry: ConvexOptimizer, section: ConvexSection) -> None:
    """Registry checks of one optimizer entry (raises ValueError for pydantic to locate)."""
    from benchmark.optim import get_optimizer_spec, validate_hparams

    for key, value in entry.hparams.items():
        if value == REDDI and key != "beta2":
            raise ValueError(f"optimizer '{entry.display}': '{REDDI}' is only a value of beta2")
    try:
        get_optimizer_spec(entry.name)
        validate_hparams(entry.name, resolve_hparams(entry.hparams, section.C))
    except BnnBenchError as exc:
        raise ValueError(str(exc)) from None
    if entry.forms is not None:
        if not entry.forms:
            raise ValueError(f"optimizer '{entry.display}': forms must not be empty")
        if _latent_free(entry.name) and entry.forms != ["binary"]:
            raise ValueError(
                f"optimizer '{entry.display}' flips binary weights only; allowed forms: binary"
            )
    if not section.optimizer_forms(entry):
        raise ValueError(
            f"optimizer '{entry.display}' has no form to run among forms {section.forms}"
        )
