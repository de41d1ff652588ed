#!/usr/bin/env bash
# Rebuild the shipped default checkpoints from scratch: train, extract, project, report, card.
# Each training run fits in 30 minutes on a 2-core CPU on its own. `make checkpoints` runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
# The shared recipe is analysis/train/recipes.py's TRAINING (lr 1e-3, 100 warm-up steps, seed 42); batching and sampling
# follow each method (length-grouped mixed batches; one task per batch at T=10 for the hyperformer and hyperloader); 40 examples per
# task are held out of train to select the best step.
COMMON=(--lr 1e-3 --warmup-steps 100 --eval-examples 40 --seed 42 --save-dtype fp16)
# The three reading tasks are sampled 3x as often and topic 2x (its TF-IDF baseline is 99.2%, so one error in 250
# decides it); headline, QA and slots keep weight 1.
RECIPE=(--steps 1250 --eval-every 250 --task-weights nli=3 paraphrase=3 sentiment=3 topic=2)
METHODS=(hyperdecoder adapter hyperformer hyperloader pha)  # the same recipe and steps for all
for m in "${METHODS[@]}"; do
  [ -f "checkpoints/$m-builtin/metrics.json" ] || \
    $PY -m analysis train --method "$m" "${COMMON[@]}" "${RECIPE[@]}" --output "checkpoints/$m-builtin" \
      --config "$($PY -c "import json, sys; from analysis.train.recipes import METHOD_CONFIGS; print(json.dumps(METHOD_CONFIGS[sys.argv[1]]))" "$m")"
done
for m in "${METHODS[@]}"; do
  c="checkpoints/$m-builtin"
  [ -f "$c/extraction/report.json" ] && continue  # a retrained checkpoint starts from an empty folder
  $PY -m analysis extract "$c" --overwrite           # an extraction without its report is unfinished
  $PY -m analysis project "$c"                      # the default UMAP map, cached beside the extraction
  $PY -m analysis project "$c" --dims 3             # and the others the Map page offers, so each opens at once
  $PY -m analysis project "$c" --method tsne
  $PY -m analysis report "$c" --save > /dev/null
  $PY -m analysis params --checkpoint "$c" --save --overwrite > /dev/null
done
for m in "${METHODS[@]}"; do
  others=(); for o in "${METHODS[@]}"; do [ "$o" = "$m" ] || others+=("checkpoints/$o-builtin"); done
  findings=(); [ -f docs/findings.md ] && findings=(--findings docs/findings.md)
  $PY -m analysis card "checkpoints/$m-builtin" --compare "${others[@]}" --baseline "${findings[@]}" --overwrite
done
