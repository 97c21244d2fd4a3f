#!/usr/bin/env bash
# Checks, in a real headless browser, that every formula of the built course was rendered by
# the vendored KaTeX and every graph picture is shown (run scripts/build_lessons.sh first).
# Needs Debian's `chromium`.
#
#   scripts/check_lessons_render.sh [screenshot.png]
#
# For each lesson page it loads the page from disk with networking off, lets the scripts run,
# and counts display formulas left as TeX source (`pre.language-math`), inline formulas left
# as `$<code>`, KaTeX error nodes, and graph pictures (`graphs/*.svg`) the browser could not
# show — the page's header script marks each picture shown or missing once the page has
# loaded. A page must show as many pictures as its markdown links. Exits non-zero if any page
# fails. With an argument, also saves a screenshot of lesson 11 at its graph picture.
set -euo pipefail
cd "$(dirname "$0")/.."
# Wherever cargo puts its output (CARGO_TARGET_DIR, relative or absolute, or a config file).
target_dir="$(cargo metadata --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
doc="$target_dir/doc"
[ -d "$doc/katex" ] || { echo "run scripts/build_lessons.sh first" >&2; exit 2; }

browse() {
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$(mktemp -d)" --virtual-time-budget=5000 "$@" 2>/dev/null
}

# Occurrences of a fixed string in a text (0 when there are none).
count() { { grep -oF -- "$1" <<<"$2" || true; } | wc -l; }

# The lesson's markdown for a page directory: l03_chain_rule → lessons/03-chain-rule.md.
markdown_of() {
    local module
    module="$(basename "$(dirname "$1")")"
    module="${module#l}"
    echo "lessons/${module//_/-}.md"
}

bad=0
pages=0
pictures=0
for page in "$doc"/nanotorch_suite/lessons/index.html "$doc"/nanotorch_suite/lessons/l*/index.html; do
    pages=$((pages + 1))
    dom="$(browse --dump-dom "file://$page")"
    # The header's own script mentions `pre.language-math` twice; rendered blocks are gone.
    left=$(( $(count 'language-math' "$dom") - 2 ))
    inline=$(count '$<code>' "$dom")
    errors=$(count 'katex-error' "$dom")
    shown=$(count 'class="katex-display"' "$dom")
    md="$(markdown_of "$page")"
    linked=0
    [ -f "$md" ] && linked=$(( $(count '](graphs/' "$(cat "$md")") + $(count '](plots/' "$(cat "$md")") ))
    drawn=$(count 'class="nanotorch-picture-shown"' "$dom")
    missing=$(count 'class="nanotorch-picture-missing"' "$dom")
    pictures=$((pictures + drawn))
    echo "$page: $shown display formulas rendered, $left left as source, $inline inline left, $errors errors; $drawn of $linked pictures shown"
    if [ "$left" -ne 0 ] || [ "$inline" -ne 0 ] || [ "$errors" -ne 0 ] \
        || [ "$missing" -ne 0 ] || [ "$drawn" -ne "$linked" ]; then
        bad=1
    fi
done
echo "$pages pages, $pictures pictures (graphs and plots) shown"
if [ $# -ge 1 ]; then
    # The top of lesson 11: its network, its formula, and the network's picture.
    browse --hide-scrollbars --window-size=1100,1750 --screenshot="$1" \
        "file://$doc/nanotorch_suite/lessons/l11_generated_code/index.html"
    echo "screenshot: $1"
fi
exit $bad
