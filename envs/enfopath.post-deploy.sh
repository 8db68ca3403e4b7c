#!/usr/bin/env bash
# Run by Snakemake once after creating envs/enfopath.yaml: torchcfm without its declared
# dependencies (see requirements-nodeps.txt for why).
set -euo pipefail
"${CONDA_PREFIX}/bin/python" -m pip install --no-deps torchcfm==1.0.7
