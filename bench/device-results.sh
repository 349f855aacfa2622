#!/usr/bin/env bash
# Runs part of `npm run results` on a lent many-core machine without node or network (see bench/RESULTS.md).
#   setup: unpack .devship/node.xz (a node binary), .devship/nm.tar.xz (node_modules) and .devship/mimic.node.xz
#          (the addon built here: x86-64 with run-time dispatch) — carry .devship
#   run ARGS...: unpack .devship/data.tar (Fashion-MNIST images the runs touch + teachers), run bench/results.ts ARGS
#                under a time limit, and put the evaluations (and logs) in $OUT/evals.tgz
set -u
OUT=${OUT:-bench/out}
mkdir -p "$OUT" .devrt
export PATH=$PWD/.devrt:$PATH
# xz may be missing there: Python's lzma and tarfile do the unpacking
unxz_to() { python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; }
untar() { python3 -c 'import tarfile,sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"; }
case "${1:-}" in
  setup)
    unxz_to .devship/node.xz .devrt/node && chmod +x .devrt/node
    untar .devship/nm.tar.xz .
    mkdir -p build/Release && unxz_to .devship/mimic.node.xz build/Release/mimic.node
    node --version; nproc; node bin/mimic.js info ;;
  run)
    shift
    untar .devship/data.tar .devrt
    untar .devrt/fmnist-sparse.tar.xz .devrt
    [ -f .devrt/teachers.tar ] && untar .devrt/teachers.tar .
    LIMIT=${LIMIT:-480}
    timeout "$LIMIT" node --import tsx bench/results.ts --data "$PWD/.devrt/fmnist-sparse" "$@" > "$OUT/results.log" 2>&1
    echo "results.ts exit ${?} (124: stopped at the ${LIMIT} s limit; finished steps are kept)"; tail -n 60 "$OUT/results.log"
    find bench/out/results -name '*.eval.json' -o -name '*.log' | tar czf "$OUT/evals.tgz" -T -
    ls -la "$OUT" ;;
  *) echo "usage: bench/device-results.sh setup | run [bench/results.ts options]" >&2; exit 2 ;;
esac
