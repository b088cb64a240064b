#!/usr/bin/env bash
# Side-by-side speed against llama.cpp on the same GGUF files, same threads, interleaved runs (medians of ROUNDS),
# plus the share of the memory roofline reached while decoding. Prints markdown rows for docs/performance.md.
#   usage: bench/compare-llamacpp.sh [-t THREADS] [-r ROUNDS] MODEL.gguf...
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2 rounds=3
while getopts t:r: flag; do case $flag in t) threads=$OPTARG ;; r) rounds=$OPTARG ;; *) exit 2 ;; esac; done
shift $((OPTIND - 1))
dotnet build -c Release src/ModelGrid.Cli >/dev/null
dotnet build -c Release bench/ModelGrid.Bench >/dev/null
engine=(dotnet src/ModelGrid.Cli/bin/Release/net10.0/modelgrid.dll bench --json)
bandwidth=$(dotnet bench/ModelGrid.Bench/bin/Release/net10.0/ModelGrid.Bench.dll memory "$threads" | python3 -c 'import json,sys; print(json.load(sys.stdin)["read_gb_per_second"])')
echo "memory read bandwidth, $threads threads: $bandwidth GB/s" >&2
echo "| model | file GB | llama.cpp pp512 | ModelGrid pp512 | ratio | llama.cpp tg128 | ModelGrid tg128 | ratio | ModelGrid tg % of roofline |"
echo "|---|---|---|---|---|---|---|---|---|"
for model in "$@"; do
  log=$(../shared/tools/bench-vs-llamacpp.sh "$model" 512 128 "$threads" "$rounds" -- "${engine[@]}")
  echo "$log" >&2
  python3 - "$model" "$bandwidth" <<PY
import os, re, statistics as s, sys
model, bandwidth = sys.argv[1], float(sys.argv[2])
rounds = re.findall(r"llama.cpp pp=([\d.]+) tg=([\d.]+) \| engine pp=([\d.]+) tg=([\d.]+)", """$log""")
lpp, ltg, epp, etg = (s.median(float(r[i]) for r in rounds) for i in range(4))
ratio = re.search(r"ratio pp=([\d.]+) tg=([\d.]+)", """$log""")
gb = os.path.getsize(model) / 1e9
roofline = bandwidth / gb  # tokens/s if every weight byte is read once per token at full bandwidth
print(f"| {os.path.basename(model)} | {gb:.2f} | {lpp:.1f} | {epp:.1f} | {ratio[1]}x | {ltg:.1f} | {etg:.1f} | {ratio[2]}x | {100 * etg / roofline:.0f}% |")
PY
done
