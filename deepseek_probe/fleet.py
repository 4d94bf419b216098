"""Many nodes at once: per-node findings (rules) plus a multi-node plan and a cluster verdict.

`deepseek-probe fleet SNAPSHOT...` reads the snapshots operators gather with Ansible, Slurm or
Kubernetes (examples/), one file per node, the file name being the node's name. It answers:

- which nodes are unfit, and why (every non-pass finding of `rules.check` on that node);
- how many nodes of which kind the model needs: tensor parallel inside a node over its GPUs,
  pipeline parallel across nodes (each node holds ceil(layers / nodes) layers), from the
  estimator's per-device memory and each node's per-GPU budget (the rules' budget: free memory
  minus the margin, or vLLM's utilization x total);
- whether each node's interconnect suits cross-node traffic (InfiniBand / RoCE port ACTIVE at
  >= 100 Gb/s, GPUDirect RDMA module loaded);
- how many more nodes of which kind are missing.

A snapshot that is missing or corrupt is reported by name, with its one-line reason, and the
others are still evaluated. Pure apart from reading the snapshot files.
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from deepseek_probe import __version__
from deepseek_probe.errors import InputError
from deepseek_probe.findings import EXIT_CODES, LEVELS, Finding, verdict, worst_of
from deepseek_probe.runtimes import RUNTIMES
from deepseek_probe.snapshot import GpuInfo, Snapshot
from deepseek_probe.units import gib
from deepseek_probe.checks.interconnect import MIN_NIC_MBPS, MIN_RDMA_GBPS, interconnect_finding  # noqa: F401  (re-exported)
from deepseek_probe.fleet_nodes import (  # noqa: F401  (re-exported: the fleet API)
    FleetInputError, FleetNode, collect_sources, load_nodes, node_kind, one_line)
from deepseek_probe.records import field, record, replace

if TYPE_CHECKING:  # annotations only (from __future__ import annotations): no import at run time
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.assess import Assessment
    from deepseek_probe.runtimes.base import Estimate, Runtime, Settings

SCHEMA_VERSION = 1

# Findings of rules.check that assume the whole model sits on one node; in a multi-node plan
# the fleet's own per-node stage check (fleet.stage_memory) replaces them.
SUPERSEDED_IN_MULTI_NODE = ("gpu.vram", "llamacpp.offload", "vllm.start", "sglang.start")

# Node names listed in one line of text before "… and N more" (reports stay readable at 1000).
NAMES_SHOWN = 12


# --- results ----------------------------------------------------------------------------------


@record
class NodeVerdict:
    """One node under one model profile."""

    node: str
    # "stage" (in the plan), "spare" (fit, not needed), "fit" (fit, but the plan lacks nodes),
    # "unfit", "unknown" (could not be judged), "unreadable" (snapshot missing or corrupt)
    role: str
    verdict: str
    findings: List[Finding] = field(default_factory=list)  # non-pass rules findings + fleet checks

    def to_dict(self) -> Dict[str, Any]:
        return {"node": self.node, "role": self.role, "verdict": self.verdict,
                "findings": [f.to_dict() for f in self.findings]}


@record
class KindPlan:
    """How a model is split over nodes of one kind (same GPU model and count)."""

    kind: str
    gpus_per_node: int
    tensor_parallel: int  # inside a node
    layers: int
    nodes: List[str]  # readable nodes of this kind
    pipeline_parallel: Optional[int] = None  # nodes the plan uses; None: not enough fit nodes
    nodes_needed: Optional[int] = None  # with nodes as good as the best one of this kind
    layers_per_stage: Optional[int] = None
    per_gpu_need_bytes: Optional[int] = None
    decode_tokens_per_s: Optional[Dict[str, float]] = None  # when one node holds it (its assessment)
    best_budget_bytes: Optional[int] = None  # per GPU, on the best node of this kind
    best_node: Optional[str] = None
    fit_nodes: List[str] = field(default_factory=list)  # can hold a stage of the plan
    unknown_nodes: List[str] = field(default_factory=list)
    stage_nodes: List[str] = field(default_factory=list)
    more_nodes_needed: int = 0

    @property
    def feasible(self) -> bool:
        return self.pipeline_parallel is not None

    def to_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, "gpus_per_node": self.gpus_per_node,
                "tensor_parallel": self.tensor_parallel, "pipeline_parallel": self.pipeline_parallel,
                "nodes_needed": self.nodes_needed, "layers": self.layers,
                "layers_per_stage": self.layers_per_stage, "per_gpu_need_bytes": self.per_gpu_need_bytes,
                "decode_tokens_per_s": self.decode_tokens_per_s,
                "best_budget_bytes": self.best_budget_bytes, "best_node": self.best_node,
                "nodes": list(self.nodes), "fit_nodes": list(self.fit_nodes),
                "unknown_nodes": list(self.unknown_nodes), "stage_nodes": list(self.stage_nodes),
                "more_nodes_needed": self.more_nodes_needed, "feasible": self.feasible}


@record
class ProfilePlan:
    model: str
    precision: str
    kv_precision: str
    context: int
    concurrency: int
    runtime: str
    verdict: str
    findings: List[Finding]  # cluster-level
    plan: Optional[KindPlan]  # the kind chosen (feasible with the fewest nodes, else fewest missing)
    kinds: List[KindPlan]
    nodes: List[NodeVerdict]

    def to_dict(self) -> Dict[str, Any]:
        return {"model": self.model, "precision": self.precision, "kv_precision": self.kv_precision,
                "context": self.context, "concurrency": self.concurrency, "runtime": self.runtime,
                "verdict": self.verdict, "findings": [f.to_dict() for f in self.findings],
                "plan": self.plan.to_dict() if self.plan else None,
                "kinds": [k.to_dict() for k in self.kinds],
                "nodes": [n.to_dict() for n in self.nodes]}


@record
class FleetResult:
    nodes: List[FleetNode]
    profiles: List[ProfilePlan]
    tool_version: str = __version__

    @property
    def verdict(self) -> str:
        return worst_of(p.verdict for p in self.profiles)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def unreadable(self) -> List[FleetNode]:
        return [n for n in self.nodes if n.status != "ok"]

    def to_dict(self) -> Dict[str, Any]:
        """`fleet --format json`: versioned like `check --format json`."""
        return {"schema_version": SCHEMA_VERSION, "tool_version": self.tool_version,
                "verdict": self.verdict, "exit_code": self.exit_code,
                "nodes": [n.to_dict() for n in self.nodes],
                "profiles": [p.to_dict() for p in self.profiles]}


# --- evaluation -------------------------------------------------------------------------------------


def evaluate_fleet(paths: Sequence[str], specs_settings: Sequence[Tuple[ModelSpec, Settings]]) -> FleetResult:
    """Read every snapshot, run the rules on each readable one, plan the multi-node deployment.

    Raises FleetInputError (exit 64) when no path is given or not one snapshot could be read,
    and the estimator's InputError for settings that make no sense for a model.
    """
    from deepseek_probe import assess
    from deepseek_probe import estimate as est_mod

    if not specs_settings:
        raise FleetInputError("fleet needs at least one model (--model)")
    for spec, settings in specs_settings:  # bad settings are bad input, before any node
        est_mod.estimate(spec, settings)
    nodes = load_nodes(paths)
    readable = [n for n in nodes if n.status == "ok"]
    if not readable:
        shown = "; ".join(f"{n.node}: {n.reason}" for n in nodes[:5])
        more = f"; and {len(nodes) - 5} more" if len(nodes) > 5 else ""
        raise FleetInputError(f"no snapshot could be read ({shown}{more})")
    for n in readable:
        try:
            n.check = assess.check(n.snapshot, specs_settings)
        except Exception as e:  # noqa: BLE001 - settings were checked above: a bug; name the node, go on
            n.status, n.reason = "error", one_line(f"internal error evaluating this node: "
                                                    f"{type(e).__name__}: {e}")
    profiles = [_evaluate_profile(nodes, i, spec, settings)
                for i, (spec, settings) in enumerate(specs_settings)]
    return FleetResult(nodes, profiles)


@record
class _NodeState:
    """Working state of one readable node under one profile."""

    node: FleetNode
    profile: Assessment
    local_level: str  # worst of the node's own findings (superseded ones excluded when multi-node)
    local_findings: List[Finding]
    budget_bytes: Optional[int]  # per GPU, tightest of the GPUs a stage uses
    fits_alone: bool  # rules placed the whole model on this node
    min_stages: Optional[int] = None  # smallest pipeline size at which this node holds a stage
    interconnect: Optional[Finding] = None  # only in multi-node plans
    stage: Optional[Finding] = None  # fleet.stage_memory, only in multi-node plans


def _evaluate_profile(nodes: List[FleetNode], index: int, spec: ModelSpec, settings: Settings) -> ProfilePlan:
    ok = [n for n in nodes if n.status == "ok"]
    by_kind: Dict[str, List[FleetNode]] = {}
    for n in ok:
        by_kind.setdefault(n.kind or "no GPU", []).append(n)
    kinds: List[KindPlan] = []
    states: Dict[str, _NodeState] = {}
    for kind, members in by_kind.items():
        plan, kind_states = _plan_kind(kind, members, index, spec, settings)
        kinds.append(plan)
        states.update(kind_states)
    chosen = _choose(kinds)
    node_verdicts = _node_verdicts(nodes, states, kinds, chosen)
    findings = _cluster_findings(nodes, states, kinds, chosen, spec, settings, node_verdicts)
    level = verdict(findings)
    stage_levels = [nv.verdict for nv in node_verdicts if nv.role == "stage"]
    if chosen is not None and chosen.feasible and stage_levels:
        level = worst_of([level] + stage_levels)
    return ProfilePlan(
        model=getattr(spec, "id", str(spec)), precision=settings.precision,
        kv_precision=settings.kv_precision, context=settings.context,
        concurrency=settings.concurrency, runtime=settings.runtime, verdict=level,
        findings=findings, plan=chosen, kinds=sorted(kinds, key=lambda k: k.kind), nodes=node_verdicts)


# --- one kind of node --------------------------------------------------------------------------


def _in_node_tensor_parallel(spec: ModelSpec, settings: Settings, n_gpus: int) -> Tuple[int, Estimate]:
    """The requested TP, or the largest the model allows on this many GPUs, with its estimate."""
    from deepseek_probe import estimate as est_mod

    candidates = [settings.tensor_parallel] if settings.tensor_parallel > 1 else range(max(n_gpus, 1), 0, -1)
    for tp in candidates:
        try:
            return tp, est_mod.estimate(spec, replace(settings, tensor_parallel=tp))
        except InputError:
            continue
    return 1, est_mod.estimate(spec, replace(settings, tensor_parallel=1))


def stage_need_bytes(spec: ModelSpec, est: Estimate, stages: int) -> int:
    """Per-GPU bytes of the largest pipeline stage when `est` (one node, TP inside it) is split
    over `stages` nodes.

    Weights and KV cache are per layer, so a stage of ceil(L / stages) layers holds that share
    of them; activations and the runtime's own memory (CUDA context, graphs, NCCL buffers) are
    per process and stay whole. An end stage also holds the embedding or the LM head (one
    vocab x hidden matrix, 16-bit, sharded by TP): added in full on top of its layer share,
    which over-counts by at most that share (0.2 GiB per GPU for DeepSeek-V3 at TP 8).
    """
    d = est.per_device
    if stages <= 1:
        return int(d.total_bytes)
    layers = int(spec.layers)
    share = math.ceil(layers / stages) / layers
    vocab_matrix = min(int(d.weights_bytes), spec.vocab * spec.hidden * 2 // max(est.tensor_parallel, 1))
    return (math.ceil(d.weights_bytes * share) + vocab_matrix + math.ceil(d.kv_cache_bytes * share)
            + int(d.activation_bytes) + int(d.runtime_overhead_bytes))


def _gpu_budget(g: GpuInfo, settings: Settings) -> Optional[int]:
    from deepseek_probe.checks.placement import budget_bytes

    return budget_bytes(g, settings)  # the same budget as check


def _node_budget(snap: Snapshot, settings: Settings, tp: int) -> Optional[int]:
    """Per-GPU budget of a stage on this node: the tp-th best GPU (a stage uses tp GPUs)."""
    gpus = snap.visible_gpus
    if len(gpus) < tp or any(g.mig_enabled for g in gpus):
        return None
    budgets = [_gpu_budget(g, settings) for g in gpus]
    if any(b is None for b in budgets):
        return None
    return sorted(budgets, reverse=True)[tp - 1]


def _plan_kind(kind: str, members: List[FleetNode], index: int, spec: ModelSpec,
               settings: Settings) -> Tuple[KindPlan, Dict[str, _NodeState]]:
    gpus_per_node = len(members[0].snapshot.visible_gpus)
    tp, est = _in_node_tensor_parallel(spec, settings, gpus_per_node)
    layers = int(spec.layers)
    needs = [stage_need_bytes(spec, est, n) for n in range(1, layers + 1)]  # needs[n-1]
    plan = KindPlan(kind, gpus_per_node, tp, layers, [m.node for m in members])

    states: Dict[str, _NodeState] = {}
    for m in members:
        prof = m.check.profiles[index] if m.check is not None else None
        if prof is None:  # rules failed on this node: named by status "error"
            continue
        vram = [f for f in prof.findings if f.check == "gpu.vram"]
        ok_levels = ("pass", "warn")
        fits_alone = bool(gpus_per_node) and bool(vram) and all(f.level in ok_levels for f in vram)
        budget = _node_budget(m.snapshot, settings, tp) if gpus_per_node else None
        states[m.node] = _NodeState(m, prof, "pass", [], budget, fits_alone)
        st = states[m.node]
        if fits_alone:
            st.min_stages = 1
        elif budget is not None:
            st.min_stages = next((n for n in range(2, layers + 1) if needs[n - 1] <= budget), None)

    # Stages a node as good as the best one of this kind needs: the shortfall is counted in those.
    candidates = [s for s in states.values() if s.min_stages is not None]
    best = min(candidates, key=lambda s: (s.min_stages, -(s.budget_bytes or 0)), default=None)
    if best is not None:
        plan.nodes_needed = best.min_stages
        plan.best_node = best.node.node
    plan.best_budget_bytes = max((s.budget_bytes for s in states.values() if s.budget_bytes is not None),
                                 default=None)
    multi = plan.nodes_needed is not None and plan.nodes_needed > 1
    for s in states.values():
        _local_findings(s, multi)
        if multi:
            s.interconnect = interconnect_finding(s.node.snapshot.network)
    if plan.nodes_needed is None:
        plan.unknown_nodes = [s.node.node for s in states.values() if s.local_level == "unknown"]
        for s in states.values():
            s.stage = _no_stage_finding(s, needs[-1], gpus_per_node)
        return plan, states

    def usable(s: _NodeState, stages: int, levels: Tuple[str, ...]) -> bool:
        net_ok = s.interconnect is None or s.interconnect.level in levels
        return (s.local_level in levels and net_ok and s.min_stages is not None
                and s.min_stages <= stages)

    fit_levels = ("pass", "warn")
    # Smallest pipeline size N >= nodes_needed with at least N nodes able to hold a stage of it
    # (a node whose GPUs hold less, e.g. with a tenant, can still take part in a longer pipeline).
    eligible = sorted(s.min_stages for s in states.values() if usable(s, layers, fit_levels))
    for stages in range(plan.nodes_needed, len(eligible) + 1):
        if bisect.bisect_right(eligible, stages) >= stages:
            plan.pipeline_parallel = stages
            break
    stages = plan.pipeline_parallel or plan.nodes_needed
    plan.layers_per_stage = math.ceil(layers / stages)
    plan.per_gpu_need_bytes = needs[stages - 1] if stages > 1 else int(est.per_device.total_bytes)
    alone = [st for st in states.values() if st.fits_alone]
    if stages == 1 and alone:  # one node holds it: that node's assessment is the answer
        a = max(alone, key=lambda st: st.budget_bytes or 0).profile
        plan.tensor_parallel, plan.per_gpu_need_bytes = a.tensor_parallel, a.per_gpu_bytes
        plan.decode_tokens_per_s = a.decode_tokens_per_s
    fit = [s for s in states.values() if usable(s, stages, fit_levels)]
    plan.fit_nodes = [s.node.node for s in fit]
    fit_names = set(plan.fit_nodes)
    plan.unknown_nodes = [s.node.node for s in states.values()
                          if s.node.node not in fit_names and usable(s, stages, fit_levels + ("unknown",))]
    if plan.feasible:
        # Cleanest nodes first: no warnings, then the most memory to spare.
        ranked = sorted(fit, key=lambda s: (LEVELS.index(_worst_level(s)), -(s.budget_bytes or 0)))
        plan.stage_nodes = [s.node.node for s in ranked[:stages]]
    else:
        plan.more_nodes_needed = plan.nodes_needed - len(fit)
    for s in states.values():
        s.stage = _stage_finding(s, plan, needs)
    return plan, states


def _worst_level(s: _NodeState) -> str:
    levels = [s.local_level] + ([s.interconnect.level] if s.interconnect else [])
    return worst_of(levels)


def _local_findings(s: _NodeState, multi: bool) -> None:
    """The node's own findings: rules' non-pass ones, without those a multi-node plan replaces."""
    kept = [f for f in s.profile.findings
            if f.level != "pass" and not (multi and f.check in SUPERSEDED_IN_MULTI_NODE)]
    s.local_findings = kept
    s.local_level = worst_of(f.level for f in kept) if kept else "pass"


def _stage_finding(s: _NodeState, plan: KindPlan, needs: List[int]) -> Optional[Finding]:
    stages = plan.pipeline_parallel or plan.nodes_needed or 1
    if stages <= 1:
        return None  # rules' own gpu.vram says it
    need = needs[stages - 1]
    if s.budget_bytes is None:
        return Finding("fleet.stage_memory", "unknown",
                       "per-GPU memory budget unknown (free memory unreadable, MIG on, or fewer GPUs "
                       f"than tensor parallel {plan.tensor_parallel})", required=need,
                       suggestion="run nvidia-smi on the node and attach it; disable MIG for serving")
    where = (f"a stage of {plan.layers_per_stage} layers (TP {plan.tensor_parallel} x PP {stages}) needs "
             f"{gib(need)} per GPU")
    if need <= s.budget_bytes:
        return Finding("fleet.stage_memory", "pass", f"{where}; {gib(s.budget_bytes)} usable per GPU",
                       measured=s.budget_bytes, required=need)
    alone = f"; it could hold a stage of a {s.min_stages}-node plan" if s.min_stages else ""
    return Finding("fleet.stage_memory", "fail",
                   f"{where}; only {gib(s.budget_bytes)} usable on its tightest GPU: short by "
                   f"{gib(need - s.budget_bytes)}{alone}",
                   measured=s.budget_bytes, required=need,
                   suggestion="free the GPU memory other processes hold (nvidia-smi), or leave this "
                              "node out of the plan")


def _no_stage_finding(s: _NodeState, one_layer_need: int, gpus_per_node: int) -> Finding:
    if not gpus_per_node:
        return Finding("fleet.stage_memory", "fail", "no GPU to hold a stage",
                       suggestion="leave this node out, or fix its driver (see gpu.present)")
    if s.budget_bytes is None:
        return Finding("fleet.stage_memory", "unknown",
                       "per-GPU memory budget unknown (free memory unreadable or MIG on)",
                       required=one_layer_need,
                       suggestion="run nvidia-smi on the node and attach it; disable MIG for serving")
    return Finding("fleet.stage_memory", "fail",
                   f"cannot hold even a one-layer stage: {gib(one_layer_need)} per GPU, "
                   f"{gib(s.budget_bytes)} usable", measured=s.budget_bytes, required=one_layer_need,
                   suggestion="use nodes with more GPU memory, a lower precision or a shorter context "
                              "(`deepseek-probe plan --model ...`)")


# --- choosing the plan and judging the cluster -----------------------------------------------------


def _choose(kinds: List[KindPlan]) -> Optional[KindPlan]:
    feasible = [k for k in kinds if k.feasible]
    if feasible:
        return min(feasible, key=lambda k: (k.pipeline_parallel, -(len(k.fit_nodes)), k.kind))
    possible = [k for k in kinds if k.nodes_needed is not None]
    if possible:
        return min(possible, key=lambda k: (k.more_nodes_needed, k.nodes_needed, k.kind))
    return None


def _node_verdicts(nodes: List[FleetNode], states: Dict[str, _NodeState], kinds: List[KindPlan],
                   chosen: Optional[KindPlan]) -> List[NodeVerdict]:
    plan_of = {name: k for k in kinds for name in k.nodes}
    stage_names = set(chosen.stage_nodes) if chosen is not None else set()
    fit_names = {name for k in kinds for name in k.fit_nodes}
    out = []
    for n in nodes:
        if n.status != "ok" or n.node not in states:
            out.append(NodeVerdict(n.node, "unreadable", "unknown",
                                   [Finding("fleet.snapshot", "unknown", f"snapshot unreadable: {n.reason}",
                                            suggestion="capture it again: deepseek-probe probe --output FILE")]))
            continue
        s = states[n.node]
        k = plan_of.get(n.node)
        findings = list(s.local_findings)
        if s.stage is not None:
            findings.append(s.stage)
        if s.interconnect is not None:
            findings.append(s.interconnect)
        level = verdict(findings) if findings else "pass"
        if n.node in stage_names and chosen is k:
            role = "stage"
        elif n.node in fit_names and chosen is k and not k.feasible:
            role = "fit"  # would be a stage once the missing nodes are added
        elif n.node in fit_names:
            role = "spare"
        elif level == "unknown":
            role = "unknown"
        elif level in ("pass", "warn"):
            role = "spare"  # fit for its kind, but the plan uses another kind
        else:
            role = "unfit"
        out.append(NodeVerdict(n.node, role, level, findings))
    return out


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")


def _why(nv: NodeVerdict) -> str:
    bad = [f for f in nv.findings if f.level in ("fail", "unknown")] or \
          [f for f in nv.findings if f.level != "pass"]
    return f"{nv.node} ({bad[0].check}: {bad[0].message})" if bad else nv.node


def _launch_hint(runtime: Runtime, tp: int, pp: int) -> str:
    if runtime.multinode_hint is not None:
        return runtime.multinode_hint.format(tp=tp, pp=pp)
    return (f"{runtime.label} runs in one process on one node: serve across {pp} nodes with vLLM "
            f"(--tensor-parallel-size {tp} --pipeline-parallel-size {pp}) or SGLang")


def _cluster_findings(nodes: List[FleetNode], states: Dict[str, _NodeState], kinds: List[KindPlan],
                      chosen: Optional[KindPlan], spec: ModelSpec, settings: Settings,
                      node_verdicts: List[NodeVerdict]) -> List[Finding]:
    out: List[Finding] = []
    model = getattr(spec, "id", str(spec))
    if chosen is None:
        out.append(Finding("fleet.plan", "fail",
                           f"no readable node can hold {model} at these settings, even one layer per node",
                           suggestion="use nodes with more GPU memory, a lower precision or a shorter "
                                      "context (`deepseek-probe plan --model ...`)"))
    elif chosen.feasible:
        pp, tp = chosen.pipeline_parallel or 1, chosen.tensor_parallel
        if pp == 1:
            msg = (f"{model} fits on one {chosen.kind} node (TP {tp}): {len(chosen.fit_nodes)} fit "
                   f"node(s), each can serve a replica")
            level, sug = "pass", None
        else:
            msg = (f"{model} needs {pp} nodes of {chosen.kind}: TP {tp} inside each node x PP {pp} "
                   f"across nodes, {chosen.layers_per_stage} of {chosen.layers} layers per stage, "
                   f"{gib(chosen.per_gpu_need_bytes)} per GPU; stages on {_names(chosen.stage_nodes)}")
            spare = len(chosen.fit_nodes) - pp
            if spare > 0:
                msg += f"; {spare} more fit node(s) spare"
            runtime = RUNTIMES[settings.runtime]
            level = "pass" if runtime.multinode_hint is not None else "warn"
            sug = _launch_hint(runtime, tp, pp)
        out.append(Finding("fleet.plan", level, msg, measured=len(chosen.fit_nodes), required=pp,
                           suggestion=sug))
    else:
        need = chosen.nodes_needed or 0
        have = need - chosen.more_nodes_needed
        like = f" like {chosen.best_node}" if chosen.best_node else ""
        how = (f"one node of {chosen.kind} (TP {chosen.tensor_parallel}" if need == 1 else
               f"{need} nodes of {chosen.kind} (TP {chosen.tensor_parallel} x PP {need}")
        msg = (f"{model} needs {how}, {gib(chosen.per_gpu_need_bytes)} per GPU); {have} fit: "
               f"{chosen.more_nodes_needed} more node(s) of {chosen.kind} needed")
        members = set(chosen.nodes)
        unfit = [nv for nv in node_verdicts if nv.node in members and nv.role in ("unfit", "unknown")]
        sug = f"add {chosen.more_nodes_needed} node(s){like}"
        if unfit:
            sug += f", or fix {_names([nv.node for nv in unfit])}"
        level = "unknown" if chosen.unknown_nodes and have + len(chosen.unknown_nodes) >= need else "fail"
        out.append(Finding("fleet.plan", level, msg, measured=have, required=need, suggestion=sug))
    other = [k for k in kinds if k is not chosen and k.nodes_needed is not None]
    for k in other:
        if k.feasible:
            txt = f"{k.pipeline_parallel} node(s) of {k.kind} would also do ({len(k.fit_nodes)} fit)"
        else:
            txt = (f"{k.nodes_needed} node(s) of {k.kind} would be needed; {k.nodes_needed - k.more_nodes_needed} "
                   f"fit (nodes of different kinds are not combined in one plan)")
        out.append(Finding("fleet.other_kinds", "pass", txt))

    unreadable = [n for n in nodes if n.status != "ok"]
    if unreadable:
        out.append(Finding("fleet.unreadable", "warn",
                           f"{len(unreadable)} node(s) not evaluated: "
                           + "; ".join(f"{n.node}: {n.reason}" for n in unreadable[:NAMES_SHOWN])
                           + (f"; and {len(unreadable) - NAMES_SHOWN} more" if len(unreadable) > NAMES_SHOWN else ""),
                           measured=len(unreadable), required=0,
                           suggestion="capture those snapshots again (deepseek-probe probe --output FILE)"))
    excluded = [nv for nv in node_verdicts if nv.role in ("unfit", "unknown")]
    if excluded:
        out.append(Finding("fleet.unfit_nodes", "warn",
                           f"{len(excluded)} node(s) cannot take part: "
                           + "; ".join(_why(nv) for nv in excluded[:NAMES_SHOWN])
                           + (f"; and {len(excluded) - NAMES_SHOWN} more" if len(excluded) > NAMES_SHOWN else ""),
                           measured=len(excluded), required=0,
                           suggestion="see each node's findings below"))
    if chosen is not None and chosen.feasible and (chosen.pipeline_parallel or 1) > 1:
        links = [states[n].interconnect for n in chosen.stage_nodes if states[n].interconnect is not None]
        level = worst_of(f.level for f in links) if links else "unknown"
        warned = [n for n in chosen.stage_nodes
                  if states[n].interconnect is not None and states[n].interconnect.level != "pass"]
        msg = ("cross-node links: every stage node has an ACTIVE RDMA port >= "
               f"{MIN_RDMA_GBPS:g} Gb/s and GPUDirect RDMA" if not warned else
               f"cross-node links of {_names(warned)}: "
               + "; ".join(f"{n}: {states[n].interconnect.message}" for n in warned[:3]))
        out.append(Finding("fleet.interconnect", level, msg, required=f">= {MIN_RDMA_GBPS:g} Gb/s RDMA",
                           suggestion=None if level == "pass" else states[warned[0]].interconnect.suggestion
                           if warned else None))
    return out
