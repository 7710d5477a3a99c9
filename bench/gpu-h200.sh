#!/usr/bin/env bash
# WebGPU on the lent NVIDIA H200 (the `device` tool), following shared/ENVIRONMENT.md. UNTESTED: no GPU was
# lent to the task that wrote it. Two steps:
#
#   here, in the repository root (network needed for the .deb files):
#       bash bench/gpu-h200.sh prepare
#   then one device call, carrying the two folders it made (about 35 MB of the 64 MiB limit):
#       run(command: "bash bench/gpu-h200.sh run", carry: [".gpu", ".gl"], timeout_s: 540)
#
# The device has no Node: `prepare` packs this machine's node binary, a one-file bundle of the CLI (no
# node_modules needed) and a minimal `webgpu` package with dawn.node; `.gl` holds the Vulkan loader and the
# glvnd libraries the NVIDIA Vulkan driver needs. `run` unpacks them, checks correctness on the GPU first
# (gradcheck, check-fixture), then times matmul and the BERT-base LoRA train step, and prints a table last.
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
  # the Vulkan loader and glvnd, exactly as the device tool's README downloads them
  rm -rf .gl && mkdir -p .gl /tmp/amd64/partial
  local o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  du -sh "$GPU" .gl
}

unxz_to() { # file.xz → file, with python3's lzma where xz is missing
  if command -v xz >/dev/null; then xz -dc "$1" >"$2"; else python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2"; fi
}

run() {
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  export PRILORA_DAWN_BACKEND=vulkan
  unxz_to "$GPU/node.xz" /tmp/node && chmod +x /tmp/node
  unxz_to "$GPU/node_modules/webgpu/dist/linux-x64/dawn.node.xz" "$GPU/node_modules/webgpu/dist/linux-x64/dawn.node"
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
  local cli=(/tmp/node "$GPU/bundle/prilora.mjs")
  local out=${OUT:-/tmp}
  last() { tail -n 1 "$1"; }

  # correctness on the GPU before any timing (the adapter line goes to stderr)
  "${cli[@]}" gradcheck --backend webgpu --json >"$out/gradcheck.txt" 2>"$out/adapter.txt" || true
  "${cli[@]}" check-fixture test/fixtures/hf/bert_cls --backend webgpu --json >"$out/fixture.txt" 2>&1 || true
  for n in 1024 2048 4096; do
    timeout 120 "${cli[@]}" bench matmul --n "$n" --backend webgpu --json >"$out/matmul-$n.txt" 2>&1 || echo '{"error":"failed"}' >>"$out/matmul-$n.txt"
  done
  timeout 240 "${cli[@]}" bench train-step --size base --method lora --batch 32 --seq 128 --backend webgpu --json \
    >"$out/train-step.txt" 2>&1 || echo '{"error":"failed"}' >>"$out/train-step.txt"

  echo
  echo "adapter:       $(head -n 1 "$out/adapter.txt")"
  echo "gradcheck:     $(last "$out/gradcheck.txt")"
  echo "check-fixture: $(last "$out/fixture.txt")"
  for n in 1024 2048 4096; do echo "matmul $n:   $(last "$out/matmul-$n.txt")"; done
  echo "train-step:    $(last "$out/train-step.txt")"
  echo "goals: matmul n=4096 >= 25000 GFLOP/s; BERT-base LoRA train step >= 290.7 seq/s (0.5 x PyTorch's 581.4, anchors/h200_pytorch.jsonl)"
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: bash bench/gpu-h200.sh prepare|run" >&2; exit 2 ;;
esac
