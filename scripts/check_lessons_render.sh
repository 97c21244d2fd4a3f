#!/usr/bin/env bash
# Checks, in a real headless browser, that every formula of the built course was rendered by
# the vendored KaTeX (run scripts/build_lessons.sh first). Needs Debian's `chromium`.
#
#   scripts/check_lessons_render.sh [screenshot.png]
#
# For each lesson page it loads the page from disk with networking off, lets the scripts run,
# and counts display formulas left as TeX source (`pre.language-math`), inline formulas left
# as `$<code>`, and KaTeX error nodes. Exits non-zero if any page has one. With an argument,
# also saves a screenshot of lesson 2.
set -euo pipefail
cd "$(dirname "$0")/.."
doc="${CARGO_TARGET_DIR:-target}/doc"
[ -d "$doc/katex" ] || { echo "run scripts/build_lessons.sh first" >&2; exit 2; }

browse() {
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$(mktemp -d)" --virtual-time-budget=5000 "$@" 2>/dev/null
}

# Occurrences of a fixed string in a text (0 when there are none).
count() { { grep -oF -- "$1" <<<"$2" || true; } | wc -l; }

bad=0
for page in "$doc"/nanotorch_suite/lessons/index.html "$doc"/nanotorch_suite/lessons/l*/index.html; do
    dom="$(browse --dump-dom "file://$PWD/$page")"
    # The header's own script mentions `pre.language-math` twice; rendered blocks are gone.
    left=$(( $(count 'language-math' "$dom") - 2 ))
    inline=$(count '$<code>' "$dom")
    errors=$(count 'katex-error' "$dom")
    shown=$(count 'class="katex-display"' "$dom")
    echo "$page: $shown display formulas rendered, $left left as source, $inline inline left, $errors errors"
    if [ "$left" -ne 0 ] || [ "$inline" -ne 0 ] || [ "$errors" -ne 0 ]; then bad=1; fi
done
if [ $# -ge 1 ]; then
    browse --hide-scrollbars --window-size=1100,1250 --screenshot="$1" \
        "file://$PWD/$doc/nanotorch_suite/lessons/l02_linear/index.html"
    echo "screenshot: $1"
fi
exit $bad
