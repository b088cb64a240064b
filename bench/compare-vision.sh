#!/usr/bin/env bash
# Image encode time and first-token latency of a chat turn with one 448x448 image, ModelGrid vs llama.cpp's mtmd
# (llama-mtmd-cli), on the same files: a synthesized Qwen3.5-0.8B (Q8_0) and its vision tower (mmproj, F16), both
# written by `modelgrid synth`. Runs interleaved (llama.cpp, ModelGrid, llama.cpp, ...), prints the per-round figures
# on stderr and markdown rows of medians and ratios on stdout. Run it under the build lock:
#   usage: flock /tmp/mg-build.lock bench/compare-vision.sh [-t THREADS] [-r ROUNDS] [-d WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2 rounds=3 work=/tmp/modelgrid-vision-bench
while getopts t:r:d: flag; do case $flag in t) threads=$OPTARG ;; r) rounds=$OPTARG ;; d) work=$OPTARG ;; *) exit 2 ;; esac; done
mkdir -p "$work"

bin=$(../shared/tools/llama-ref.sh | tail -1)
if [ ! -x "$bin/llama-mtmd-cli" ]; then
  echo "building llama-mtmd-cli in $(dirname "$bin")" >&2
  cmake --build "$(dirname "$bin")" --target llama-mtmd-cli -j"$(nproc)" >/dev/null
fi
dotnet build -c Release src/ModelGrid.Cli >/dev/null
modelgrid=(dotnet src/ModelGrid.Cli/bin/Release/net10.0/modelgrid.dll)

model=$work/qwen35-0.8b-q8_0.gguf mmproj=$work/mmproj-qwen35-0.8b-f16.gguf image=$work/image-448.png
[ -f "$model" ] || "${modelgrid[@]}" synth --arch qwen35 --preset 0.8b --type q8_0 --tokenizer ../shared/golden/tokenizer/tokenizer.json -o "$model" >/dev/null 2>&1
[ -f "$mmproj" ] || "${modelgrid[@]}" synth --arch qwen35 --preset 0.8b --mmproj-out "$mmproj" --mmproj-type f16 >/dev/null 2>&1
# A 448x448 RGB PNG with gradients, a disc and noise (no flat regions), written with the standard library only.
[ -f "$image" ] || python3 - "$image" <<'PY'
import struct, sys, zlib
w = h = 448
rows, state = [], 12345
for y in range(h):
    row = bytearray([0])
    for x in range(w):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        inside = (x - 224) ** 2 + (y - 200) ** 2 < 120 ** 2
        row += bytes(((x * 255 // w) ^ (state >> 27), y * 255 // h, 200 if inside else (x ^ y) & 255))
    rows.append(bytes(row))
chunk = lambda kind, data: struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                              + chunk(b'IDAT', zlib.compress(b''.join(rows), 6)) + chunk(b'IEND', b''))
PY

prompt="What is in this picture?"
log=""
for round in $(seq "$rounds"); do
  # llama.cpp: "mtmd batch encoding done in N ms" is the tower; libllama's "prompt eval time" runs from the first
  # prompt decode to the logits of the last prompt row, so it spans the text, the encode and the image rows.
  out=$("$bin/llama-mtmd-cli" -m "$model" --mmproj "$mmproj" --image "$image" -p "$prompt" -n 1 --temp 0 -t "$threads" -c 4096 -v 2>&1 >/dev/null)
  l_encode=$(grep -oP 'mtmd batch encoding done in \K[0-9]+' <<<"$out")
  l_first=$(grep -oP 'prompt eval time = +\K[0-9.]+' <<<"$out")
  l_rows=$(grep -oP 'prompt eval time = +[0-9.]+ ms / +\K[0-9]+' <<<"$out")
  json=$("${modelgrid[@]}" bench image "$model" --mmproj "$mmproj" --image "$image" -p "$prompt" -t "$threads" -r 3 --json)
  line="round $round: llama.cpp encode=$l_encode first=$l_first rows=$l_rows | engine $json"
  echo "$line" >&2
  log+="$line"$'\n'
done

python3 - "$threads" "$rounds" <<PY
import json, re, statistics as s, sys
threads, rounds = sys.argv[1], sys.argv[2]
rows = []
for line in """$log""".strip().splitlines():
    m = re.match(r"round \d+: llama.cpp encode=(\d+) first=([\d.]+) rows=(\d+) \| engine (.*)", line)
    rows.append((float(m[1]), float(m[2]), int(m[3]), json.loads(m[4])))
engine = rows[-1][3]
def row(label, llama, ours):
    ratios = [l / o for l, o in zip(llama, ours)]
    print(f"| {label} | {s.median(llama):.0f} | {s.median(ours):.0f} | **{s.median(ratios):.2f}×** |")
print(f"Qwen3.5-0.8B Q8_0 + vision tower F16 (synthesized), {engine['image_size'][0]}x{engine['image_size'][1]} PNG = "
      f"{engine['image_tokens']} image tokens, {engine['prompt_rows']} prompt rows (llama.cpp: {rows[-1][2]}), "
      f"{threads} threads, medians of {rounds} interleaved rounds; ratio = llama.cpp time / ModelGrid time (> 1: ModelGrid faster).")
print()
print("| ms | llama.cpp mtmd | ModelGrid | ratio |")
print("|---|---|---|---|")
row("image encode (vision tower)", [r[0] for r in rows], [r[3]["image_encode_ms"] for r in rows])
row("first token of the chat turn", [r[1] for r in rows], [r[3]["first_token_ms"] for r in rows])
print()
print(f"ModelGrid preprocessing (PNG decode, fit, normalize), inside its first-token figure and outside llama.cpp's: {s.median(r[3]['image_preprocess_ms'] for r in rows):.0f} ms")
PY
