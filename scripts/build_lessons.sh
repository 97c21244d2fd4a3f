#!/usr/bin/env bash
# Builds the NanoTorch course (lessons/*.md, published as the rustdoc modules of
# `nanotorch_suite::lessons`) with its math rendered offline by the vendored KaTeX.
#
#   scripts/build_lessons.sh          # then open target/doc/nanotorch_suite/lessons/index.html
#   scripts/build_lessons.sh --open   # also opens it in a browser
#
# Only files in this repository are used: lessons/katex-header.html is put into every page's
# <head>, and lessons/katex/ (KaTeX's css, js and fonts, MIT) is copied next to the pages.
# Plain `cargo doc` works too; the math then shows as TeX source beside its Unicode text.
set -euo pipefail
cd "$(dirname "$0")/.."

header="$PWD/lessons/katex-header.html"
RUSTDOCFLAGS="${RUSTDOCFLAGS:-} --html-in-header $header" \
    cargo doc -p nanotorch -p nanotorch-suite --no-deps "$@"

doc_root="${CARGO_TARGET_DIR:-target}/doc"
rm -rf "$doc_root/katex"
cp -R lessons/katex "$doc_root/katex"
echo "Lessons: $doc_root/nanotorch_suite/lessons/index.html"
