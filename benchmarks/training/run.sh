#!/bin/bash
# Driver for the fine-tuning memory measurements (benchmarks/training/README.md).
# On the GPU host, from the repo root, with the bitsandbytes (and peft) wheels in .whl/:
#   bash benchmarks/training/run.sh OUT.jsonl [--only c00,c11] [--from N] [--deadline SECONDS]
set -o pipefail
here=$(dirname "$0")
if ls .whl/*.whl >/dev/null 2>&1; then
  site=$(mktemp -d)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .whl/*.whl || exit 1
  export PYTHONPATH=$site
fi
python3 - <<'PY'
import torch, transformers, peft, bitsandbytes
print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__,
      "bitsandbytes", bitsandbytes.__version__, torch.cuda.get_device_name(0), flush=True)
PY
PYTHONUNBUFFERED=1 python3 "$here/run_cases.py" "$@"
