#!/usr/bin/env bash
# Full-profile notebook times on an offline GPU machine.
#
#   bash bench/device_check.sh BUDGET_SECONDS [ID ...]      (default: every assignment, in course order)
#
# The machine has torch, torchvision, matplotlib, einops, tqdm and pillow but not the Jupyter
# stack and no network, and the data beside the repo (../shared/data) does not travel. So the
# caller carries two ignored folders of the repo root, made by bench/device_prepare.sh:
#   .whl/      Python 3.12 wheels: nbclient, nbformat, jupyter_client/core, ipykernel, ipython,
#              ipywidgets and their pure dependencies
#   .devdata/  MNIST/raw, FashionMNIST/raw and flowers/flowers5_32x32.npz (+ ATTRIBUTION.txt)
# Notebooks run one at a time (`python -m bench.notebooks --profile full`) in the order given,
# most needed first; a notebook is not started when too little of the budget is left. After each
# one the figures (bench/results/notebooks_full_cuda.json) and the executed copy are put in $OUT,
# so a run cut short still returns what was measured.
set -u
BUDGET=${1:-480}
shift || true
IDS=${*:-$(python3 -m autograder.assignments)}
OUT=${OUT:-/tmp/device_check}
mkdir -p "$OUT"
PROFILE=${PROFILE:-full}        # PROFILE=smoke WHEELS=none: a dry run of this script on any machine
WHEELS=${WHEELS:-.whl}
export PYTHONUNBUFFERED=1 COURSE_OFFLINE=1
[ -d .devdata ] && export COURSE_DATA_DIR=$PWD/.devdata
if [ -d "$WHEELS" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
  python3 -c "import sys, torch, nbclient, ipykernel, helpers; print('python', sys.version.split()[0], \
'| torch', torch.__version__, '| cuda', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" || exit 1
  n=0
  for id in $IDS; do                 # an id may repeat (a second run of the same notebook)
    n=$((n + 1))
    left=$((BUDGET - SECONDS))
    python3 -m bench.notebooks --profile "$PROFILE" --budget "$left" --min-left 40 "$id"
    cp bench/results/notebooks_"$PROFILE"*.json "$OUT"/ 2>/dev/null
    for nb in bench/results/notebooks/"$PROFILE"_cuda/"$id"*.ipynb; do
      [ -f "$nb" ] && cp "$nb" "$OUT/run${n}_$(basename "$nb")"
    done
  done
  echo "[device_check] done in $SECONDS s"
} 2>&1 | tee "$OUT/device_check.log"
