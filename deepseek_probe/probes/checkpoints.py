"""DeepSeek checkpoints already on this machine, read from their headers (never their weights).

Where (I/O, bounded):
- Hugging Face cache: HF_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
  ~/.cache/huggingface/hub (huggingface_hub constants.py). Layout (file_download.py):
  models--{org}--{name}/refs/main (revision), snapshots/<rev>/<file> symlinked to ../../blobs/<hash>.
- Ollama: OLLAMA_MODELS, else ~/.ollama/models (ollama envconfig.Models). manifests/<host>/<namespace>/
  <model>/<tag> is an OCI manifest; the layer with mediaType application/vnd.ollama.image.model
  names the GGUF blob, stored as blobs/sha256-<hex> (ollama server/internal/cache/blob).
- LM Studio: ~/.lmstudio/models and ~/.cache/lm-studio/models, <publisher>/<repo>/<file>.gguf.
- Folders given with --model-dir: a model folder, a GGUF file, or a HF cache / Ollama store root.

Bounds: a deadline and an entry budget for the whole scan; fixed depths, no recursive walk; a
symlink is followed only when it is a HF snapshot link into its repo's blobs/ folder; every
other link is listed as skipped. A corrupt header gives that checkpoint an `error`; the rest
are still listed. `find_checkpoints` never raises.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence, Tuple

from deepseek_probe.errors import InputError
from deepseek_probe.files import read_regular
from deepseek_probe.records import field, record

if TYPE_CHECKING:  # annotations only: the records are made where a model is found
    from deepseek_probe.checkpoint import Checkpoint, Fact
    from deepseek_probe.snapshot import CheckpointsInfo

# The header parsers (formats/: gguf, safetensors, hf_config) and the Checkpoint record are
# imported where a model file is found, not with this module: `check` scans the stores on every
# run, and on a machine without models (most CI boxes, a fresh GPU host) they cost ~12 M of the
# ~70 M instructions the live snapshot took (valgrind cachegrind, issue 24).

SOURCES = ("hf_cache", "ollama", "lmstudio", "model_dir")
OLLAMA_MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"
# A scan of a normal home (a few dozen models) touches < 500 entries and takes < 50 ms; these
# bound a pathological tree (a cache on a dead network mount, a million files).
DEFAULT_TIME_LIMIT_S = 2.0
DEFAULT_MAX_ENTRIES = 20000
_MANIFEST_MAX_BYTES = 1 << 20
# compiled on first use (re's own cache): only an Ollama manifest's digest is checked
_HEX64 = r"^[0-9a-f]{64}$"

@record
class CheckpointScan:
    checkpoints: List[Checkpoint] = field(default_factory=list)
    roots: List[str] = field(default_factory=list)  # folders looked at
    notes: List[str] = field(default_factory=list)  # limits hit, links skipped
    elapsed_ms: float = 0.0

    def to_dict(self) -> Dict[str, object]:
        return {"checkpoints": [c.to_dict() for c in self.checkpoints], "roots": list(self.roots),
                "notes": list(self.notes), "elapsed_ms": round(self.elapsed_ms, 3)}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> "CheckpointScan":
        raw = d.get("checkpoints") or []
        if not isinstance(raw, list):
            from deepseek_probe.errors import InputError
            raise InputError("checkpoints: not a list")
        from deepseek_probe.checkpoint import Checkpoint

        return cls([Checkpoint.from_dict(c) for c in raw], list(d.get("roots") or []),  # type: ignore[arg-type]
                   list(d.get("notes") or []), float(d.get("elapsed_ms") or 0.0))  # type: ignore[arg-type]


class _Budget:
    def __init__(self, time_limit_s: float, max_entries: int) -> None:
        self.deadline = time.monotonic() + time_limit_s
        self.left = max_entries
        self.hit: Optional[str] = None

    def listdir(self, path: str) -> List[str]:
        if self.hit:
            return []
        if time.monotonic() > self.deadline:
            self.hit = "time limit reached; the list may be incomplete"
            return []
        try:
            names = sorted(os.listdir(path))
        except OSError:
            return []
        if len(names) > self.left:
            self.hit = "entry limit reached; the list may be incomplete"
            names = names[:self.left]
        self.left -= len(names)
        return names


# -- roots ------------------------------------------------------------------------------------
def _home(env: Mapping[str, str]) -> str:
    return env.get("HOME") or os.path.expanduser("~")


def hf_cache_dir(env: Mapping[str, str]) -> str:
    """huggingface_hub constants.py: HF_HUB_CACHE > HF_HOME/hub > XDG_CACHE_HOME/huggingface/hub."""
    if env.get("HF_HUB_CACHE"):
        return os.path.expanduser(env["HF_HUB_CACHE"])
    if env.get("HF_HOME"):
        return os.path.join(os.path.expanduser(env["HF_HOME"]), "hub")
    cache = env.get("XDG_CACHE_HOME") or os.path.join(_home(env), ".cache")
    return os.path.join(cache, "huggingface", "hub")


def ollama_dir(env: Mapping[str, str]) -> str:
    return os.path.expanduser(env["OLLAMA_MODELS"]) if env.get("OLLAMA_MODELS") \
        else os.path.join(_home(env), ".ollama", "models")


def lmstudio_dirs(env: Mapping[str, str]) -> List[str]:
    h = _home(env)
    return [os.path.join(h, ".lmstudio", "models"), os.path.join(h, ".cache", "lm-studio", "models")]


# -- one checkpoint from files -------------------------------------------------------------------
def _gguf_precision(file_type: Optional[str]) -> Optional[str]:
    from deepseek_probe.profiles import PRECISIONS
    if not file_type:
        return None
    p = {"F16": "fp16", "BF16": "bf16", "F32": "fp32"}.get(file_type, file_type.lower())
    return p if p in PRECISIONS else None


def inspect_gguf(path: str, source: str, name: str) -> Checkpoint:
    """Checkpoint of a GGUF file (the first shard of a split: all shards present, summed)."""
    from deepseek_probe.checkpoint import Checkpoint
    from deepseek_probe.formats import gguf
    from deepseek_probe.formats.errors import HeaderError

    c = Checkpoint(source, name, path, "gguf")
    try:
        s, missing = gguf.read_model(path)
    except HeaderError as e:
        c.error = str(e)
        c.bytes_on_disk = _size(path)
        return c
    c.files, c.params, c.bytes_by_dtype = s.files, s.params, s.bytes_by_type
    c.bytes_on_disk, c.expected_bytes = s.file_bytes, s.expected_file_bytes
    c.complete = s.complete if not missing else False
    facts: Dict[str, Fact] = {"architecture": s.architecture, "name": _str(s.metadata.get("general.name")),
                              "gguf_version": s.version, "file_type": s.file_type,
                              "split_count": s.split_count}
    facts.update(s.facts)
    emb = next((t for t in s.tensors if t.name == "token_embd.weight"), None)
    if emb is not None and len(emb.shape) == 2:
        facts["vocab"] = emb.shape[1]
    names = {t.name for t in s.tensors}
    facts["has_output"] = "output.weight" in names
    facts["qkv_bias"] = "blk.0.attn_q.bias" in names
    c.architecture = facts
    c.quantization = {"method": "gguf", "file_type": s.file_type}
    c.precision = _gguf_precision(s.file_type)
    if missing:
        c.notes.append(f"split into {s.split_count} files; missing: "
                       + ", ".join(os.path.basename(m) for m in missing))
    if c.complete is False and not missing:
        c.notes.append(f"file holds {c.bytes_on_disk} of the {c.expected_bytes} bytes its header describes")
    return c


def inspect_folder(path: str, source: str, name: str, revision: Optional[str] = None) -> Checkpoint:
    """Checkpoint of a transformers folder: config.json and its safetensors (headers only)."""
    from deepseek_probe.checkpoint import Checkpoint
    from deepseek_probe.formats import hf_config, safetensors
    from deepseek_probe.formats.errors import HeaderError

    c = Checkpoint(source, name, path, "safetensors", revision=revision)
    cfg_path = os.path.join(path, "config.json")
    if os.path.exists(cfg_path):
        try:
            cfg = hf_config.read_config(cfg_path)
            text = cfg.get("text_config") if isinstance(cfg.get("text_config"), dict) else cfg
            arch: Dict[str, Fact] = {"model_type": _str(cfg.get("model_type"))}
            for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                      "vocab_size", "max_position_embeddings", "n_routed_experts", "kv_lora_rank"):
                v = text.get(k) if isinstance(text, dict) else None
                if isinstance(v, (int, float, str, bool)) or v is None:
                    arch[k] = v
            c.architecture = arch
            q = hf_config.quantization(cfg)
            if q is not None:
                c.quantization = q.to_dict()  # type: ignore[assignment]
                c.precision = q.precision
            else:
                td = str(cfg.get("torch_dtype") or cfg.get("dtype") or "")
                c.precision = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(td)
        except HeaderError as e:
            c.error = str(e)
    else:
        c.notes.append("no config.json")
    try:
        names = os.listdir(path)
    except OSError:
        names = []
    if not any(n.endswith(".safetensors") or n == "model.safetensors.index.json" for n in names):
        bins = [n for n in names if n.endswith((".bin", ".pt", ".pth"))]
        c.format = "pytorch" if bins else "unknown"
        if bins:  # pickled weights: never opened (unpickling runs code); sizes from the file system
            c.files = len(bins)
            c.bytes_on_disk = sum(_size(os.path.join(path, b)) or 0 for b in bins)
            c.notes.append("weights in PyTorch pickle files: not read; sizes from the file system only")
        else:
            c.notes.append("no weight files")
        return c
    try:
        s = safetensors.read_model(path)
    except HeaderError as e:
        c.error = c.error or str(e)
        return c
    c.files, c.params, c.bytes_by_dtype = s.files, s.params, s.bytes_by_dtype
    c.bytes_on_disk, c.expected_bytes, c.complete = s.file_bytes, s.expected_file_bytes, s.complete
    if c.complete is False:
        c.notes.append(f"files hold {c.bytes_on_disk} of the {c.expected_bytes} bytes their headers describe")
    return c


def _str(v: object) -> Optional[str]:
    return v if isinstance(v, str) else None


def _size(path: str) -> Optional[int]:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


# -- which models to read ---------------------------------------------------------------------------
def _deepseek_name(name: str) -> bool:
    return "deepseek" in name.lower()


def _config_is_deepseek(folder: str) -> bool:
    """model_type / architectures of a config.json say DeepSeek (a fine-tune under another name)."""
    from deepseek_probe.formats import hf_config
    from deepseek_probe.formats.errors import HeaderError

    try:
        cfg = hf_config.read_config(os.path.join(folder, "config.json"))
    except HeaderError:
        return False
    hay = f"{cfg.get('model_type')} {cfg.get('architectures')}"
    return "deepseek" in hay.lower()


def _gguf_is_deepseek(path: str) -> bool:
    from deepseek_probe.formats import gguf

    arch = gguf.peek_architecture(path)
    return bool(arch) and arch.startswith("deepseek")  # type: ignore[union-attr]


# -- stores ----------------------------------------------------------------------------------------
def _hf_link_ok(link: str, repo_base: str) -> bool:
    """A snapshot entry may be a symlink only into its own repo's blobs/ folder."""
    if not os.path.islink(link):
        return True
    target = os.path.realpath(link)
    return target.startswith(os.path.realpath(os.path.join(repo_base, "blobs")) + os.sep)


def scan_hf_cache(hub: str, budget: _Budget, out: List[Checkpoint], notes: List[str], source: str = "hf_cache",
                  include_all: bool = True) -> None:
    for entry in budget.listdir(hub):
        if not entry.startswith("models--"):
            continue
        repo_id = entry[len("models--"):].replace("--", "/", 1)
        base = os.path.join(hub, entry)
        rev = None
        try:
            rev = read_regular(os.path.join(base, "refs", "main"), 100).decode("utf-8", "replace").strip() or None
        except (OSError, InputError):  # missing, or not a regular file (a FIFO would block)
            pass
        snaps = budget.listdir(os.path.join(base, "snapshots"))
        if rev not in snaps:
            rev = snaps[-1] if snaps else None
        if rev is None:
            continue
        snap = os.path.join(base, "snapshots", rev)
        files = budget.listdir(snap)
        bad = [f for f in files if not _hf_link_ok(os.path.join(snap, f), base)]
        if bad:
            notes.append(f"{repo_id}: skipped links leaving the cache: {', '.join(bad[:3])}")
        files = [f for f in files if f not in bad]
        ggufs = _first_shards([f for f in files if f.endswith(".gguf")])
        named = include_all or _deepseek_name(repo_id)
        if any(f.endswith(".safetensors") or f == "config.json" for f in files) and (
                named or _config_is_deepseek(snap)):
            out.append(inspect_folder(snap, source, repo_id, rev))
        for g in ggufs:
            if not (named or _deepseek_name(g) or _gguf_is_deepseek(os.path.join(snap, g))):
                continue
            c = inspect_gguf(os.path.join(snap, g), source, f"{repo_id}/{g}")
            c.revision = rev
            out.append(c)


def _first_shards(names: Sequence[str]) -> List[str]:
    out: List[str] = []
    if not names:
        return out
    from deepseek_probe.formats import gguf

    for n in names:
        m = gguf.SPLIT_RE.match(n)
        if (m is None or int(m.group("no")) == 1) and not n.startswith("mmproj"):
            out.append(n)
    return out


def scan_ollama(store: str, budget: _Budget, out: List[Checkpoint], notes: List[str],
                include_all: bool = True) -> None:
    mroot = os.path.join(store, "manifests")
    for host in budget.listdir(mroot):
        for ns in budget.listdir(os.path.join(mroot, host)):
            for model in budget.listdir(os.path.join(mroot, host, ns)):
                for tag in budget.listdir(os.path.join(mroot, host, ns, model)):
                    mpath = os.path.join(mroot, host, ns, model, tag)
                    if host == "registry.ollama.ai":
                        name = f"{model}:{tag}" if ns == "library" else f"{ns}/{model}:{tag}"
                    else:
                        name = f"{host}/{ns}/{model}:{tag}"
                    out.append(_ollama_entry(store, mpath, name, notes, include_all))


def _ollama_entry(store: str, mpath: str, name: str, notes: List[str], include_all: bool = True) -> Checkpoint:
    from deepseek_probe.checkpoint import Checkpoint

    c = Checkpoint("ollama", name, mpath, "gguf")
    if os.path.islink(mpath) or not os.path.isfile(mpath):
        c.error = f"{mpath}: manifest is not a regular file"
        return c
    try:
        doc = json.loads(read_regular(mpath, _MANIFEST_MAX_BYTES))
        layers = doc.get("layers") if isinstance(doc, dict) else None
        layer = next(l for l in layers if isinstance(l, dict) and l.get("mediaType") == OLLAMA_MODEL_MEDIA_TYPE)  # type: ignore[union-attr]
        digest = str(layer.get("digest", ""))
    except (OSError, InputError, ValueError, UnicodeDecodeError, StopIteration, TypeError, RecursionError):
        c.error = f"{mpath}: not an Ollama manifest with a model layer"
        return c
    algo, _, hexd = digest.partition(":")
    if algo != "sha256" or not re.match(_HEX64, hexd):
        c.error = f"{mpath}: bad model digest {digest[:80]!r}"
        return c
    blob = os.path.join(store, "blobs", f"sha256-{hexd}")
    if os.path.islink(blob):
        notes.append(f"{name}: blob is a symlink, not followed")
        c.error = f"{blob}: blob is a symlink (not followed)"
        return c
    if not os.path.isfile(blob):
        c.error = f"{blob}: model blob missing"
        return c
    if not (include_all or _deepseek_name(name) or _gguf_is_deepseek(blob)):
        c.notes.append("not a DeepSeek model (general.architecture)")
        return c  # listed without its header read; find_checkpoints drops it
    g = inspect_gguf(blob, "ollama", name)
    size = layer.get("size")
    if isinstance(size, int) and g.bytes_on_disk is not None and g.bytes_on_disk < size:
        g.notes.append(f"blob holds {g.bytes_on_disk} of the {size} bytes the manifest lists")
        g.complete = False
    return g


def scan_lmstudio(root: str, budget: _Budget, out: List[Checkpoint], notes: List[str],
                  include_all: bool = True) -> None:
    for pub in budget.listdir(root):
        pdir = os.path.join(root, pub)
        if os.path.islink(pdir):
            notes.append(f"{pdir}: symlink, not followed")
            continue
        for repo in budget.listdir(pdir):
            rdir = os.path.join(pdir, repo)
            if os.path.islink(rdir):
                notes.append(f"{rdir}: symlink, not followed")
                continue
            for g in _first_shards([f for f in budget.listdir(rdir) if f.endswith(".gguf")]):
                p = os.path.join(rdir, g)
                if os.path.islink(p):
                    notes.append(f"{p}: symlink, not followed")
                    continue
                name = f"{pub}/{repo}/{g}"
                if include_all or _deepseek_name(name) or _gguf_is_deepseek(p):
                    out.append(inspect_gguf(p, "lmstudio", name))


def scan_model_dir(path: str, budget: _Budget, out: List[Checkpoint], notes: List[str]) -> None:
    """A folder the user named: a GGUF file, a model folder, a HF cache or an Ollama store."""
    p = os.path.abspath(os.path.expanduser(path))
    if os.path.isfile(p):
        if p.endswith(".gguf"):
            out.append(inspect_gguf(p, "model_dir", os.path.basename(p)))
        else:
            notes.append(f"{p}: not a .gguf file or a folder")
        return
    names = budget.listdir(p)
    if not names:
        notes.append(f"{p}: missing or empty")
        return
    if "manifests" in names and "blobs" in names:
        scan_ollama(p, budget, out, notes)
        return
    if any(n.startswith("models--") for n in names):
        scan_hf_cache(p, budget, out, notes, "model_dir")
        return
    _model_folder(p, names, budget, out, notes, depth=0)


def _model_folder(p: str, names: List[str], budget: _Budget, out: List[Checkpoint], notes: List[str],
                  depth: int) -> None:
    inside = os.path.realpath(p) + os.sep

    def ok(f: str) -> bool:
        full = os.path.join(p, f)
        if not os.path.islink(full):
            return True
        t = os.path.realpath(full)
        # a HF snapshot folder links to ../../blobs/: allowed, like in the cache
        return t.startswith(inside) or f"{os.sep}blobs{os.sep}" in t and "models--" in t

    bad = [f for f in names if not ok(f)]
    if bad:
        notes.append(f"{p}: skipped links leaving the folder: {', '.join(bad[:3])}")
    names = [f for f in names if f not in bad]
    if "config.json" in names or any(n.endswith(".safetensors") for n in names):
        out.append(inspect_folder(p, "model_dir", os.path.basename(p.rstrip(os.sep))))
    for g in _first_shards([n for n in names if n.endswith(".gguf")]):
        out.append(inspect_gguf(os.path.join(p, g), "model_dir", g))
    if depth < 2:  # <dir>/<publisher>/<repo>/ layouts (LM Studio-like) and a folder of models
        for n in names:
            sub = os.path.join(p, n)
            if os.path.isdir(sub) and not os.path.islink(sub) and not n.startswith("."):
                _model_folder(sub, budget.listdir(sub), budget, out, notes, depth + 1)


# -- entry point ---------------------------------------------------------------------------------
def find_checkpoints(model_dirs: Sequence[str] = (), environ: Optional[Mapping[str, str]] = None,
                     include_all: bool = False, default_stores: bool = True,
                     time_limit_s: float = DEFAULT_TIME_LIMIT_S,
                     max_entries: int = DEFAULT_MAX_ENTRIES) -> CheckpointScan:
    """Every DeepSeek checkpoint (every checkpoint with include_all) in the default stores and in
    `model_dirs`. Never raises; limits hit are listed in `notes`."""
    env = os.environ if environ is None else environ
    t0 = time.perf_counter()
    scan = CheckpointScan()
    budget = _Budget(time_limit_s, max_entries)
    found: List[Checkpoint] = []
    jobs: List[Tuple[str, str]] = []
    if default_stores:
        jobs += [("hf", hf_cache_dir(env)), ("ollama", ollama_dir(env))]
        jobs += [("lmstudio", d) for d in lmstudio_dirs(env)]
    jobs += [("dir", d) for d in model_dirs]
    for kind, root in jobs:
        if kind != "dir" and not os.path.isdir(root):
            continue
        scan.roots.append(root)
        try:
            if kind == "hf":
                scan_hf_cache(root, budget, found, scan.notes, include_all=include_all)
            elif kind == "ollama":
                scan_ollama(root, budget, found, scan.notes, include_all)
            elif kind == "lmstudio":
                scan_lmstudio(root, budget, found, scan.notes, include_all)
            else:
                scan_model_dir(root, budget, found, scan.notes)
        except Exception as e:  # noqa: BLE001 - a probe never raises; say where it broke
            scan.notes.append(f"{root}: error: {type(e).__name__}: {e}"[:200])
    if budget.hit:
        scan.notes.append(budget.hit)
    seen = set()
    for c in found:
        key = (c.source, c.name, c.path)
        if key in seen:
            continue
        seen.add(key)
        if include_all or c.is_deepseek or c.source == "model_dir":
            scan.checkpoints.append(c)
    scan.elapsed_ms = (time.perf_counter() - t0) * 1e3
    return scan


def probe_checkpoints(model_dir: Optional[str], environ: Mapping[str, str]) -> CheckpointsInfo:
    """The snapshot's record of the scan: what was found, where it looked, limits hit."""
    from deepseek_probe.snapshot import CheckpointsInfo, LocalCheckpoint

    scan = find_checkpoints([model_dir] if model_dir else (), environ=environ)
    out = CheckpointsInfo(roots=list(scan.roots))
    for c in scan.checkpoints:
        arch = c.architecture.get("architecture") if isinstance(c.architecture, dict) else None
        out.found.append(LocalCheckpoint(
            source=c.source, name=c.name, path=c.path, format=c.format, bytes_on_disk=c.bytes_on_disk,
            expected_bytes=c.expected_bytes, complete=c.complete, params=c.params,
            bytes_by_dtype=dict(c.bytes_by_dtype), precision=c.precision,
            architecture=str(arch) if arch is not None else None, error=c.error))
    if scan.notes:
        out.unavailable["found"] = "; ".join(scan.notes)[:200]
    return out
