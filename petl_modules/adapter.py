"""Bottleneck adapters (Houlsby / Pfeiffer; sequential or parallel; before, after or after the add).

An adapter ``A(u) = up(act(down(u)))`` sits on a residual branch ``x + f(LN x)`` (a *sub-layer*:
mhsa, ffn; conformer: ffn1, mhsa, ffn2, where ``f`` includes the 0.5 macaron factor; post-LN layers
have no ``LN`` before ``f``). With ``A'(u) = u + A(u)`` when ``residual`` is true, else ``A(u)``:

=========================  =====================================  ==========================
placement / position       layer computes                         ``residual`` default
=========================  =====================================  ==========================
sequential / after         ``x + A'(f(LN x))``                    true (PETL_AST Seq-After)
parallel / after           ``x + f(LN x) + A'(f(LN x))``          false (Par-After)
parallel / before          ``x + f(LN x) + A'(LN x)``             false (Par-Before)
sequential / before        ``a = A'(LN x)``; ``x + f(a) + a``     false (Seq-Before)
sequential / after_add     ``h = x + f(LN x)``; ``A'(h)``         true (peft-music, seed 001)
=========================  =====================================  ==========================

so PETL_AST's ablation formulas are the defaults and its Table VII toggle is ``residual``
(sequential: false drops ``+ f(LN x)``; parallel: true adds ``+ LN x``). ``after_add`` puts the
adapter on the residual stream after the add (before MERT's post-LN). ``scale`` multiplies ``A``.

``train_norms``: ``sublayer`` (default) trains the norm of each sub-layer carrying an adapter
(AST: ``layernorm_before`` for mhsa, ``layernorm_after`` for ffn, as PETL_AST); ``block`` every
LayerNorm of each adapted layer (peft-music: MusicFM's four, MERT's two); ``none`` no norm.
``style="houlsby"`` puts an adapter on every sub-layer, ``"pfeiffer"`` one per layer at
``location`` (default ``ffn``; ``mhsa``, ``both``, ``all`` or a list of sub-layer names).
``reduction_rate`` gives ``bottleneck = round(d / reduction_rate)`` (PETL_AST's rounding).

``sites``: a different placement per sub-layer, one adapter per entry ``{sublayer, placement,
position, residual}`` (missing keys: the top-level ones), e.g. seed 002's "HOU mixed"
``[{sublayer: mhsa, placement: parallel, position: before}, {sublayer: ffn}]`` and "HYDRA FFN"
(a sequential adapter after the FFN and a parallel one before it). ``location`` then follows
from the sites.

``init``: ``default`` (PyTorch's default for the down projection, zero up projection) or
``petl_ast`` (also a zero down-projection bias, as PETL_AST).

Only the up projection is zero-initialised (PETL_AST zeroed both: the down one never trained).
The adapters attach with forward hooks on the modules the backbone's
:class:`~lobes.layer_spec.Sublayer` names (exact because the frozen network runs in eval mode,
see :meth:`lobes.backbone.Backbone.train`), and live in ``layer.petl``.

Example:
    >>> import warnings; warnings.simplefilter("ignore")
    >>> from lobes import build_backbone
    >>> from petl_modules import apply_petl
    >>> bb = build_backbone("ast", config="tiny")
    >>> st = apply_petl(bb, "adapter", {"style": "pfeiffer", "bottleneck": 4})
    >>> st.num_trainable() == 4 * (32 * 4 + 4 + 4 * 32 + 32 + 2 * 32)  # adapter + layernorm_after
    True
"""
from __future__ import annotations

import torch
from torch import nn

from petl_modules.common import (
    PetlError, as_bool, as_float, check_options, choice, first_hidden, layer_container, make_activation,
    positive_int, replace_hidden, select_layers,
)
from petl_modules.base import Method, register_method, to_like


class BottleneckAdapter(nn.Module):
    """``Linear(d, b) -> act -> Linear(b, d)``; the up projection starts at zero.

    ``zero_down_bias``: the down projection's bias starts at zero (PETL_AST's ``init: petl_ast``;
    its zero down weight is not reproduced: that weight would never train), else PyTorch's default.
    """

    def __init__(self, dim: int, bottleneck: int, activation: str = "gelu", zero_down_bias: bool = False) -> None:
        super().__init__()
        self.down = nn.Linear(dim, bottleneck)
        self.act = make_activation("adapter", activation)
        self.up = nn.Linear(bottleneck, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        if zero_down_bias:
            nn.init.zeros_(self.down.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.act(self.down(x)))


PLACEMENTS = {  # (placement, position) -> default of ``residual``
    ("sequential", "after"): True, ("parallel", "after"): False, ("parallel", "before"): False,
    ("sequential", "before"): False, ("sequential", "after_add"): True,
}


class BranchTap(nn.Module):
    """Attaches ``adapter`` to one sub-layer through forward hooks (see the module docstring).

    The hook on the sub-layer's input module sees ``x`` and ``u`` (``u = LN x``, or ``x`` in a
    post-LN layer) and may replace ``u``; the hook on its output module rewrites ``y``, where the
    branch output is ``r = sublayer.scale · y``.
    """

    petl_added = True

    def __init__(self, adapter: nn.Module, placement: str, position: str, residual: bool, scale: float) -> None:
        super().__init__()
        self.adapter = adapter
        self.placement, self.position, self.residual, self.scale = placement, position, residual, scale
        self.branch_scale = 1.0  # the sub-layer's factor on f's output module (set by attach)
        self._seen = None

    def adapt(self, u: torch.Tensor) -> torch.Tensor:
        """``A'(u)``."""
        out = self.scale * self.adapter(u)
        return u + out if self.residual else out

    def attach(self, layer: nn.Module, sub) -> None:
        self.branch_scale = sub.scale
        inp, out = layer.get_submodule(sub.input), layer.get_submodule(sub.output)
        if sub.pre_norm:
            inp.register_forward_hook(self._on_norm, with_kwargs=True)
        else:
            inp.register_forward_pre_hook(self._on_input, with_kwargs=True)
        out.register_forward_hook(self._on_output)

    def _enter(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Record what the output hook needs; return f's (possibly replaced) input."""
        if self.position == "before":
            a = self.adapt(u)
            self._seen = a
            return a if self.placement == "sequential" else u
        self._seen = x if self.position == "after_add" else True
        return u

    def _on_norm(self, module, args, kwargs, output):
        u = self._enter(first_hidden(args, kwargs), output)
        return None if u is output else u

    def _on_input(self, module, args, kwargs):
        x = first_hidden(args, kwargs)
        u = self._enter(x, x)
        return None if u is x else replace_hidden(args, kwargs, u)

    def _on_output(self, module, args, y):
        seen, self._seen = self._seen, None
        if seen is None:
            raise RuntimeError("adapter: the sub-layer output ran without its input hook")
        c = self.branch_scale
        r = c * y
        if self.position == "before":  # a = A'(LN x): sequential x + f(a) + a, parallel x + f(LN x) + a
            new = r + seen
        elif self.position == "after_add":  # h = x + r; the stream becomes A'(h)
            new = self.adapt(seen + r) - seen
        elif self.placement == "sequential":
            new = self.adapt(r)
        else:
            new = r + self.adapt(r)
        return new if c == 1 else new / c

    def extra_repr(self) -> str:
        return (f"placement={self.placement}, position={self.position}, residual={self.residual}, "
                f"scale={self.scale}")


BRANCH_DEFAULTS = {
    "style": "houlsby", "location": None, "placement": "sequential", "position": "after", "residual": None,
    "sites": None, "bottleneck": None, "reduction_rate": None, "activation": "gelu", "scale": 1.0,
    "train_norms": "sublayer", "init": "default", "layers_to_transform": None,
}
SITE_KEYS = ("sublayer", "placement", "position", "residual")


def placement_residual(method: str, placement, position, residual) -> bool:
    """Check a (placement, position) pair; ``residual`` or its default (see :data:`PLACEMENTS`)."""
    choice(method, "placement", placement, ["sequential", "parallel"])
    choice(method, "position", position, ["after", "before", "after_add"])
    if (placement, position) not in PLACEMENTS:
        raise PetlError(f"{method}: position='after_add' (the adapter on the residual stream after the add, as "
                        "peft-music) is a sequential placement; use placement='sequential'")
    return as_bool(method, "residual", PLACEMENTS[placement, position] if residual is None else residual)


def adapter_sites(method: str, backbone, o: dict) -> list[dict]:
    """Complete ``sites`` (one adapter each): the given ones, or one per sub-layer of ``location``.

    A site's missing keys take the top-level ``placement`` / ``position`` / ``residual``. A
    sub-layer takes at most one site before it and one after it (HYDRA: a parallel adapter before
    the FFN and a sequential one after it); the after-site acts on ``f``'s output first.
    """
    sites = o["sites"]
    if sites is None:
        return [{"sublayer": name, "placement": o["placement"], "position": o["position"], "residual": o["residual"]}
                for name in o["location"]]
    if not isinstance(sites, (list, tuple)) or not sites or not all(isinstance(x, dict) for x in sites):
        raise PetlError(f"{method}: option sites must be a non-empty list of mappings such as "
                        "{sublayer: mhsa, placement: parallel, position: before}")
    out, taken = [], set()
    for site in sites:
        unknown = sorted(set(site) - set(SITE_KEYS))
        if unknown or "sublayer" not in site:
            raise PetlError(f"{method}: a site names its sublayer and may set {', '.join(SITE_KEYS[1:])}; "
                            f"got {site!r}")
        names = sublayer_names(method, backbone, "pfeiffer", site["sublayer"])
        if len(names) != 1:
            raise PetlError(f"{method}: a site is one sub-layer, got sublayer={site['sublayer']!r}")
        name = names[0]
        placement, position = site.get("placement", o["placement"]), site.get("position", o["position"])
        residual = placement_residual(method, placement, position, site.get("residual"))
        side = (name, "before" if position == "before" else "after")
        if side in taken:
            raise PetlError(f"{method}: two sites {side[1]} the sub-layer {name!r}; a sub-layer takes one adapter "
                            "before it and one after it")
        taken.add(side)
        out.append({"sublayer": name, "placement": placement, "position": position, "residual": residual})
    return sorted(out, key=lambda x: x["position"] == "before")  # after-sites hook f's output first


def sublayer_names(method: str, backbone, style: str, location) -> list[str]:
    """Sub-layer names of ``location`` (or of the style's default) on this backbone."""
    spec = backbone.layer_specs()[0]
    names = [s.name for s in spec.sublayers]
    ffn = "ffn" if "ffn" in names else [n for n in names if n.startswith("ffn")][-1]
    if location is None:
        location = "all" if style == "houlsby" else "ffn"
    presets = {"mhsa": ["mhsa"], "ffn": [ffn], "both": ["mhsa", ffn], "all": names}
    if isinstance(location, str):
        if location in presets:
            return presets[location]
        location = [location]
    if not isinstance(location, (list, tuple)) or not location:
        raise PetlError(f"{method}: option location must be one of {', '.join(presets)} or a list of sub-layers")
    for name in location:
        if name not in names:
            raise PetlError(
                f"{method}: option location={name!r} is not valid for this backbone; valid: "
                f"{', '.join(list(presets) + names)}"
            )
    return list(dict.fromkeys(location))


def bottleneck_size(method: str, options: dict, dim: int) -> int:
    """``bottleneck``, or ``round(dim / reduction_rate)`` as PETL_AST (768 / 100 -> 8), at least 1 (a
    paper's reduction rate on a narrow test backbone)."""
    if options["bottleneck"] is not None and options["reduction_rate"] is not None:
        raise PetlError(f"{method}: give either bottleneck or reduction_rate, not both")
    if options["reduction_rate"] is not None:
        return max(1, round(dim / positive_int(method, "reduction_rate", options["reduction_rate"])))
    return positive_int(method, "bottleneck", 16 if options["bottleneck"] is None else options["bottleneck"], dim,
                        "the hidden size")


class BranchAdapterMethod(Method):
    """Shared logic of adapters living on residual branches (bottleneck, convpass, conformer, moa)."""

    defaults = BRANCH_DEFAULTS
    initialisation_options = ("init",)
    #: values of option ``init``: ``default`` (documented per adapter) and the reference codes' ones
    inits: tuple[str, ...] = ("default",)

    def validate(self, backbone, options: dict) -> dict:
        m = self.name
        o = check_options(m, options, self.defaults)
        choice(m, "style", o["style"], ["houlsby", "pfeiffer"])
        o["residual"] = placement_residual(m, o["placement"], o["position"], o["residual"])
        given_location = o["location"]
        o["location"] = sublayer_names(m, backbone, o["style"], o["location"])
        o["sites"] = adapter_sites(m, backbone, o)
        sites_at = list(dict.fromkeys(site["sublayer"] for site in o["sites"]))
        if given_location is not None and sorted(o["location"]) != sorted(sites_at):
            raise PetlError(f"{m}: give either location or sites (each site names its sub-layer), not both")
        o["location"] = sites_at
        choice(m, "init", o["init"], self.inits)
        o["bottleneck"] = bottleneck_size(m, o, backbone.hidden_size)
        o["reduction_rate"] = None  # normalised options name the bottleneck (idempotent validation)
        choice(m, "train_norms", o["train_norms"], ["sublayer", "block", "none"])
        make_activation(m, o["activation"])
        o["scale"] = as_float(m, "scale", o["scale"])
        select_layers(m, backbone.layer_specs(), o["layers_to_transform"])
        return self.validate_extra(backbone, o)

    def validate_extra(self, backbone, o: dict) -> dict:
        return o

    def make_adapter(self, backbone, o: dict) -> nn.Module:
        return BottleneckAdapter(backbone.hidden_size, o["bottleneck"], o["activation"], o["init"] == "petl_ast")

    def apply(self, backbone, o: dict) -> None:
        for spec in select_layers(self.name, backbone.layer_specs(), o["layers_to_transform"]):
            container = layer_container(spec.layer)
            ref = next(spec.layer.parameters())
            for site in o["sites"]:
                name = site["sublayer"]
                key = f"{self.name}_{name}" + ("_before" if f"{self.name}_{name}" in container else "")
                if key in container:
                    raise PetlError(f"{self.name}: layer {spec.index} already has an adapter at {name}")
                tap = BranchTap(self.make_adapter(backbone, o), site["placement"], site["position"], site["residual"],
                                o["scale"])
                container[key] = to_like(tap, ref)
                tap.attach(spec.layer, spec.sublayer(name))
            norms = {"sublayer": o["location"], "block": list(spec.norms), "none": []}[o["train_norms"]]
            for role in norms:
                spec.norm(role).requires_grad_(True)


@register_method
class AdapterMethod(BranchAdapterMethod):
    """Bottleneck adapter (Houlsby et al. 2019; Pfeiffer et al. 2021)."""

    name = "adapter"
    inits = ("default", "petl_ast")
