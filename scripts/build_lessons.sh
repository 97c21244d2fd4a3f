#!/usr/bin/env bash
# Builds the NanoTorch course (lessons/*.md, published as the rustdoc modules of
# `nanotorch_suite::lessons`) with its math rendered offline by the vendored KaTeX.
#
#   scripts/build_lessons.sh          # then open target/doc/nanotorch_suite/lessons/index.html
#   scripts/build_lessons.sh --open   # also opens it in a browser
#
# Only files in this repository are used: lessons/katex-header.html is put into every page's
# <head>, lessons/katex/ (KaTeX's css, js and fonts, MIT) is copied next to the pages, and
# lessons/graphs/ (the networks' pictures) into every lesson's directory.
# Plain `cargo doc` works too; the math then shows as TeX source beside its Unicode text.
set -euo pipefail
cd "$(dirname "$0")/.."

header="$PWD/lessons/katex-header.html"
RUSTDOCFLAGS="${RUSTDOCFLAGS:-} --html-in-header $header" \
    cargo doc -p nanotorch -p nanotorch-suite --no-deps "$@"

# Wherever cargo puts its output (CARGO_TARGET_DIR, relative or absolute, or a config file).
target_dir="$(cargo metadata --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
doc_root="$target_dir/doc"
rm -rf "$doc_root/katex"
cp -R lessons/katex "$doc_root/katex"
# The pictures — lessons/graphs/*.svg, drawn by network! and kept in sync by
# tests/lesson_graphs.rs; lessons/plots/*.svg, measurements drawn and kept in sync by
# tests/lesson_plots.rs: a page links them as `graphs/NAME.svg` or `plots/NAME.svg`, as on
# GitHub, so each lesson's directory gets a copy.
for page_dir in "$doc_root"/nanotorch_suite/lessons/l*/; do
    for kind in graphs plots; do
        rm -rf "${page_dir:?}/$kind"
        cp -R "lessons/$kind" "$page_dir/$kind"
    done
done
echo "Lessons: $doc_root/nanotorch_suite/lessons/index.html"
