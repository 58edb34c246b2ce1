# Sourced by the scripts: create or refresh ./.venv when pyproject.toml changed.
# Usage: ensure_venv EXTRAS   (EXTRAS is "" or "[dev]")
ensure_venv() {
    local extras="$1"
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    local venv="$root/.venv"
    local stamp="$venv/.keyturn-installed"
    local want
    want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)$extras"
    if [ ! -x "$venv/bin/python" ]; then
        "${PYTHON:-python3}" -m venv "$venv"
    fi
    # An install with [dev] also satisfies a plain one (same pyproject hash).
    if [ ! -f "$stamp" ] || ! { grep -qxF -- "$want" "$stamp" ||
        { [ -z "$extras" ] && grep -q -- "^${want}" "$stamp"; }; }; then
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        "$venv/bin/python" -m pip install --quiet -e "$root$extras"
        echo "$want" > "$stamp"
    fi
}
