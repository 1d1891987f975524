#!/bin/sh
# Renders docs/ledger-export.png: the reference scenario's 台账 as `rectify export-ledger` writes it,
# printed headless by LibreOffice (soffice) and rasterised by pdftoppm (poppler-utils).
# Run from the repository root with the virtualenv's `rectify` on PATH.
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RECTIFY_DATABASE_URL="sqlite:///$work/rectify.db"
rectify load-example songyuan >/dev/null
round=$(rectify events --json --type Round.Opened \
    | python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())["aggregate_id"])')
rectify export-ledger "$work/ledger.xlsx" --round "$round"
soffice --headless --norestore --convert-to pdf --outdir "$work" "$work/ledger.xlsx" >/dev/null 2>&1
pdftoppm -png -r 100 -f 1 -l 1 -singlefile "$work/ledger.pdf" docs/ledger-export
echo "wrote docs/ledger-export.png"
