#!/usr/bin/env bash
# The checks to run on a lent GPU machine, which has no network and no CI: the GPU paths are
# otherwise never run (the first GPU run found three CUDA failures no CPU test could).
#
#   1. `obliviate bench --preset smoke` with every attack bitsandbytes does not need: base, target,
#      oracle, three methods, evaluations and attacks, all on the GPU;
#   2. the tests whose code runs on the GPU when one is present (the engine, methods, unlearning,
#      evaluation passes, attacks, optimizers);
#   3. perf/accelerator_throughput.py: training and likelihood-pass throughput of a random ~1B
#      Llama against the device's bf16 peak, gd at larger batches, and a profiled gd run.
#
# Each part has its own time limit and log under $OUT (what the device tool brings back); a part's
# failure does not stop the others. Run from the repository root:
#
#   WHEELS=.whl DATA=.gpu/lume TOKENIZER=.gpu/tokenizer bash perf/gpu_checks.sh
#
# WHEELS: a folder of wheels the machine lacks (installed with --no-deps --no-index; our runtime
# dependencies for its Python, e.g. `pip download --only-binary=:all: --python-version 3.12 ...`
# and a wheel built here for rouge-score, which has none); DATA: LUME's directory; TOKENIZER:
# SmolLM2's tokenizer files (the 1B model's vocabulary).
set -u
OUT=${OUT:-/tmp/gpu_checks}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if [ -n "${WHEELS:-}" ]; then
    pip install --quiet --no-deps --no-index "$WHEELS"/*.whl > "$OUT/install.log" 2>&1 || tail -5 "$OUT/install.log"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

part() {  # part NAME SECONDS COMMAND...: run it, log it, print its status and wall
    local name=$1 limit=$2 start=$SECONDS
    shift 2
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    echo "== $name: exit $? in $((SECONDS - start)) s (log: $name.log)"
}

part bench "${BENCH_S:-150}" python -m obliviate bench --preset smoke --methods gd,npo,rmu \
    --attacks quant4,q4_0,quant8,relearn,relearn-related,relearn-speed,probes,sample \
    --set cache_dir=/tmp/gpu_bench/cache --set out_dir=/tmp/gpu_bench/runs --no-report
tail -n 40 "$OUT/bench.log"

part throughput "${THROUGHPUT_S:-200}" python perf/accelerator_throughput.py --data "${DATA:-../shared/data/lume}" \
    ${TOKENIZER:+--tokenizer "$TOKENIZER"} --skip-pass --methods gd --repeats 1 --long-epochs 10 \
    --train-batch-sizes 16,64 --profile 25 ${DATASHEET_TFLOPS:+--datasheet-tflops "$DATASHEET_TFLOPS"}
grep -v "^\s*$" "$OUT/throughput.log" | head -n 150

part tests "${TESTS_S:-200}" python -m pytest -q -p no:cacheprovider tests/test_engine.py \
    tests/test_methods.py tests/test_unlearn.py tests/test_optimizers.py tests/eval tests/attacks \
    tests/subjects
tail -n 30 "$OUT/tests.log"
