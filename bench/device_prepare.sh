#!/usr/bin/env bash
# Build the two git-ignored folders bench/device_check.sh needs on an offline GPU machine:
#   .whl/      Python 3.12 manylinux wheels of the Jupyter stack (the machine has torch but no Jupyter)
#   .devdata/  MNIST/raw, FashionMNIST/raw and flowers/flowers5_32x32.npz from $COURSE_DATA_DIR
# Run it here (it needs the package index, not the GPU), then pass carry: [".whl", ".devdata"].
#
#   bash bench/device_prepare.sh            (COURSE_DATA_DIR defaults to ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${COURSE_DATA_DIR:-$(cd .. && pwd)/shared/data}
PY=${PY:-python3}
# Versions that ran on the H200 (Python 3.12, torch 2.11) in November 2026.
PKGS="nbclient==0.11.0 nbformat==5.11.1 jupyter_client==8.10.0 jupyter_core==5.9.1 ipykernel==7.4.0
ipython==9.18.1 traitlets==5.16.1 pyzmq==27.3.0 tornado==6.6.1 comm==0.2.3 matplotlib-inline==0.2.2
parso==0.8.7 prompt_toolkit==3.0.53 pexpect==4.9.0 ptyprocess==0.7.0 decorator stack-data==0.6.3
executing==2.3.0 asttokens==3.0.2 pure-eval wcwidth==0.9.4 fastjsonschema==2.22.3 jsonschema==4.26.0
jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 platformdirs==4.14.8
ipython-pygments-lexers ipywidgets==8.1.9 jupyterlab_widgets==3.0.17 nest-asyncio2"
PLATFORMS=""
for p in manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_26 manylinux_2_24 manylinux_2_17 \
         manylinux2014 manylinux1; do
  PLATFORMS="$PLATFORMS --platform ${p}_x86_64"
done
# shellcheck disable=SC2086
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  $PLATFORMS -d .whl $PKGS
for d in MNIST FashionMNIST; do
  [ -d "$DATA/$d/raw" ] || { echo "no $DATA/$d/raw: set COURSE_DATA_DIR to the course data" >&2; exit 1; }
  mkdir -p ".devdata/$d" && cp -r "$DATA/$d/raw" ".devdata/$d/"
done
mkdir -p .devdata/flowers
cp "$DATA/flowers/flowers5_32x32.npz" .devdata/flowers/
[ -f "$DATA/flowers/ATTRIBUTION.txt" ] && cp "$DATA/flowers/ATTRIBUTION.txt" .devdata/flowers/
du -sh .whl .devdata
bytes() { awk '{s += $1} END {print s + 0}'; }
carried=$(find .whl .devdata -type f -printf '%s\n' | bytes)
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null | bytes)
echo "a run on the GPU machine carries about $(( (carried + tree) / 1048576 )) MiB (working tree $((tree / 1048576)) MiB + these) of its 64 MiB"
