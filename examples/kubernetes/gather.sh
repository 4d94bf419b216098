#!/usr/bin/env bash
# Collect each GPU node's snapshot from the deepseek-probe DaemonSet and run `fleet` on them.
#
#   examples/kubernetes/gather.sh SNAPSHOT_DIR [fleet flags...]
#   examples/kubernetes/gather.sh ./snapshots --model 671b --format markdown --output report.md
#
# Every node that carries the GPU label gets a path, whether its snapshot could be read or not:
# a node without a probe pod or without a snapshot yet is named by `fleet` as unreadable. The
# exit code is fleet's (0 ready, 1 warnings, 2 not ready, 3 unknown, 64 nothing readable).
#
# Environment: KUBECTL (default kubectl), NAMESPACE (deepseek-probe), NODE_SELECTOR
# (nvidia.com/gpu.present=true), DEEPSEEK_PROBE (deepseek-probe).
set -uo pipefail

KUBECTL=${KUBECTL:-kubectl}
NAMESPACE=${NAMESPACE:-deepseek-probe}
NODE_SELECTOR=${NODE_SELECTOR:-nvidia.com/gpu.present=true}
DEEPSEEK_PROBE=${DEEPSEEK_PROBE:-deepseek-probe}

if [ $# -lt 1 ]; then
  echo "usage: $0 SNAPSHOT_DIR [deepseek-probe fleet flags...]" >&2
  exit 64
fi
out=$1
shift
mkdir -p "$out" || exit 64
rm -f "$out"/*.json  # a stale file would hide a node that stopped reporting

nodes=$($KUBECTL get nodes -l "$NODE_SELECTOR" \
  -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}') || exit 64
if [ -z "$nodes" ]; then
  echo "gather.sh: no node matches -l $NODE_SELECTOR" >&2
  exit 64
fi
# "<node> <pod>" for every running probe pod.
pods=$($KUBECTL -n "$NAMESPACE" get pods -l app.kubernetes.io/name=deepseek-probe \
  --field-selector=status.phase=Running \
  -o jsonpath='{range .items[*]}{.spec.nodeName}{" "}{.metadata.name}{"\n"}{end}') || exit 64

paths=()
for node in $nodes; do
  paths+=("$out/$node.json")
  pod=$(printf '%s\n' "$pods" | awk -v n="$node" '$1 == n { print $2; exit }')
  if [ -z "$pod" ]; then
    echo "gather.sh: no running deepseek-probe pod on $node" >&2
    continue
  fi
  if $KUBECTL -n "$NAMESPACE" exec "$pod" -c probe -- cat "/out/$node.json" > "$out/.$node.part"; then
    mv "$out/.$node.part" "$out/$node.json"
  else
    rm -f "$out/.$node.part"
    echo "gather.sh: no snapshot from $node (pod $pod)" >&2
  fi
done

"$DEEPSEEK_PROBE" fleet "${paths[@]}" "$@"
