#!/usr/bin/env bash
# Make the images the documentation shows (docs/_static/img/) from the default training run.
#
#   scripts/make_docs_images.sh                       # uses the python on PATH
#   PYTHON=.venv/bin/python scripts/make_docs_images.sh
#
# Trains the default configuration of examples/gan.py into runs/docs (about 5 minutes on a
# 2-core CPU, less on a GPU), then copies the training GIF, the last sample grid, the real-digit
# grid and the loss plot under the names docs/walkthrough.rst expects. Extra arguments are passed
# to examples/gan.py (e.g. --device cpu); the default run takes none.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"

# docs: command
"$PYTHON" examples/gan.py --out runs/docs --overwrite "$@"
mkdir -p docs/_static/img
cp runs/docs/progress.gif docs/_static/img/gan.gif
cp "$(ls runs/docs/samples/step_*.png | sort | tail -n 1)" docs/_static/img/final_grid.png
cp runs/docs/real.png docs/_static/img/real.png
cp runs/docs/losses.png docs/_static/img/losses.png
# docs: end command

echo "wrote docs/_static/img/{gan.gif,final_grid.png,real.png,losses.png} from runs/docs (flags: runs/docs/config.json)"
