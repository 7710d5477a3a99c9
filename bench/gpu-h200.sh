#!/usr/bin/env bash
# WebGPU on the lent NVIDIA H200 (the `device` tool), following shared/ENVIRONMENT.md: one prepared script
# that checks correctness on the GPU, then times matmul and BERT-base training steps and prints one table
# beside PyTorch's numbers on the same GPU (shared/anchors/h200_pytorch.jsonl, copied in by `prepare`).
#
#   here, in the repository root (the .deb files need the network; without it `prepare` goes on without them):
#       bash bench/gpu-h200.sh prepare
#   then one device call, carrying the two folders it made (about 35 MB of the 64 MiB limit):
#       run(command: "bash bench/gpu-h200.sh run", carry: [".gpu", ".gl"], timeout_s: 590)
#   the same end to end on this machine (Mesa llvmpipe, small sizes; its numbers mean nothing):
#       bash bench/gpu-h200.sh run --small
#
# The device has no Node: `prepare` packs this machine's node binary, a one-file bundle of the CLI (no
# node_modules needed) and a minimal `webgpu` package with dawn.node; `.gl` holds the Vulkan loader and the
# glvnd libraries the NVIDIA Vulkan driver needs. `run` unpacks them, points the Vulkan loader at NVIDIA's ICD
# (Dawn falls back to its OpenGL backend through NVIDIA's EGL vendor library when Vulkan finds nothing, see
# src/backends/webgpu/dawn-node.ts), and leaves every command's output in $OUT (or /tmp/prilora-gpu).
set -euo pipefail
cd "$(dirname "$0")/.."
GPU=.gpu

prepare() {
  # keep the carried folders out of git, as the device tool's README says
  mkdir -p .git/info && touch .git/info/exclude
  for d in /.gpu/ /.gl/; do grep -qxF "$d" .git/info/exclude || echo "$d" >>.git/info/exclude; done
  rm -rf "$GPU" && mkdir -p "$GPU/bundle" "$GPU/node_modules/webgpu/dist/linux-x64"
  xz -T0 -9 -c "$(command -v node)" >"$GPU/node.xz"
  # two levels below the root, so that the sources' `../../assets` style paths still resolve
  node -e "
    require('esbuild').build({
      stdin: { contents: 'import { main } from \'./src/cli/main.ts\'; process.exitCode = await main(process.argv.slice(2));', resolveDir: '.', loader: 'ts' },
      bundle: true, platform: 'node', format: 'esm', target: 'node20',
      outfile: '$GPU/bundle/prilora.mjs', external: ['webgpu', 'gpu.js', 'gl'],
      banner: { js: \"import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);\" },
    }).catch((e) => { console.error(e); process.exit(1); });
  "
  cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$GPU/node_modules/webgpu/"
  xz -T0 -c node_modules/webgpu/dist/linux-x64/dawn.node >"$GPU/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
  cp bench/gpu-table.mjs "$GPU/"
  cp "${ANCHORS:-../shared/anchors/h200_pytorch.jsonl}" "$GPU/anchors.jsonl" || echo '{"what":"env","note":"no anchors file"}' >"$GPU/anchors.jsonl"
  # the Vulkan loader and glvnd, exactly as the device tool's README downloads them
  mkdir -p .gl /tmp/amd64/partial
  local o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  if apt-get $o update >/dev/null && (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null); then :; else
    echo "prepare: could not download the Vulkan/glvnd .debs (no network?): .gl is incomplete" >&2
  fi
  du -sh "$GPU" .gl
}

unxz_to() { # file.xz → file, with python3's lzma where xz is missing
  if command -v xz >/dev/null; then xz -dc "$1" >"$2"; else python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2"; fi
}

run() {
  local small=0
  [ "${1:-}" = "--small" ] && small=1
  if [ "$small" = 0 ] && { command -v nvidia-smi >/dev/null || [ -d /usr/local/nvidia ]; }; then
    # only on the device: these libraries go into its / (never unpack them on a workstation)
    for f in .gl/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
    ldconfig
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
  fi
  local node=/tmp/prilora-node
  unxz_to "$GPU/node.xz" "$node" && chmod +x "$node"
  unxz_to "$GPU/node_modules/webgpu/dist/linux-x64/dawn.node.xz" "$GPU/node_modules/webgpu/dist/linux-x64/dawn.node"
  # logs in $work; $out (the device tool brings back 8 files at most) gets one archive, renewed after each
  # command so that a run stopped at its limit still returns what finished, and the table
  local out=${OUT:-/tmp/prilora-gpu} work=/tmp/prilora-gpu-work
  rm -rf "$work" && mkdir -p "$out" "$work"
  local cli=("$node" "$GPU/bundle/prilora.mjs")
  local ns step census budget
  if [ "$small" = 1 ]; then
    ns="256 512"; step=(--size deep --batch 2 --seq 16 --steps 2 --warmup 1); census=(--size deep --batch 2 --seq 16); budget=240
  else
    ns="4096 8192"; step=(--size base --batch 32 --seq 128); census=("${step[@]}"); budget=70
  fi
  # each command leaves its JSON line (its last line) in $out/NAME.json and the rest in $out/NAME.log
  one() {
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS
    if timeout "$limit" "${cli[@]}" "$@" --backend webgpu --json >"$work/$name.log" 2>&1; then :; else echo "{\"error\":\"exit $? (timeout $limit s?)\"}" >>"$work/$name.log"; fi
    tail -n 1 "$work/$name.log" >"$work/$name.json"
    echo "$name: $((SECONDS - t0)) s" | tee -a "$work/times.txt"
    tar czf "$out/results.tgz" -C "$work" .
  }
  # correctness on the GPU before any timing; the adapter line is the first line of every log
  # the limits add up to 560 s, inside one device call
  one gradcheck 40 gradcheck
  one fixture 40 check-fixture test/fixtures/hf/bert_cls
  for n in $ns; do one "matmul-$n" 40 bench matmul --n "$n"; done
  one train-lora "$budget" bench train-step "${step[@]}" --method lora
  # the same without the recorded-step replay: what the host's JavaScript per step costs on this machine
  one train-lora-live "$budget" bench train-step "${step[@]}" --method lora --no-replay
  # where the LoRA step's GPU time goes: every kernel timed by timestamp queries
  one census-run 45 bench train-step "${census[@]}" --method lora --census run
  for m in full prilora; do one "train-$m" "$budget" bench train-step "${step[@]}" --method "$m"; done
  one census-prilora 45 bench train-step "${census[@]}" --method prilora --census run
  # the kernels of one BERT-base LoRA step at 32 x 128 (counted, not run: any device, a second or two)
  one census 30 bench train-step --size base --batch 32 --seq 128 --method lora --census dry
  grep -m1 '^webgpu:' "$work/gradcheck.log" >"$work/adapter.txt" || echo 'webgpu: (no adapter line)' >"$work/adapter.txt"
  "$node" "$GPU/gpu-table.mjs" "$work" "$GPU/anchors.jsonl" "$small" | tee "$out/table.md"
}

case "${1:-}" in
  prepare) prepare ;;
  run) shift; run "$@" ;;
  *) echo "usage: bash bench/gpu-h200.sh prepare | run [--small]" >&2; exit 2 ;;
esac
