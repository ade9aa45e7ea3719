# Shared set-up for scripts/test, scripts/demo and scripts/bench (sourced, not run).
#
# ensure_venv: creates .venv with the project installed (editable) and the extras named in
#   $RINGEMU_EXTRAS (default "test"); reinstalls only when pyproject.toml changed.
# ensure_debian_packages PKG...: installs missing Debian packages with apt-get when running as
#   root; otherwise says what is missing and carries on (tests needing them skip).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV="$ROOT/.venv"
PY=${PYTHON:-python3}

say() { printf '%s\n' "$*" >&2; }

ensure_venv() {
    local extras=${RINGEMU_EXTRAS:-test}
    local stamp="$VENV/.ringemu-installed"
    local want
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1) $extras"
    if [ ! -x "$VENV/bin/python" ]; then
        say "setting up a virtual environment in .venv"
        "$PY" -m venv "$VENV"
    fi
    if [ -f "$stamp" ] && _extras_cover "$(cat "$stamp")" "$want"; then
        want=$(cat "$stamp")  # installed with these extras and more: nothing to do
    fi
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        say "installing ringemu and its dependencies ($extras) into .venv"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
        "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$extras]" 2>&1 \
            | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
        "$VENV/bin/python" -c "import ringemu, zmq, scapy, textual, click" \
            || { say "installation failed"; return 1; }
        printf '%s' "$want" > "$stamp"
    fi
}

# _extras_cover STAMP WANT: same pyproject hash, and every extra WANT names is in STAMP's.
_extras_cover() {
    local have_hash=${1%% *} have_extras=${1#* } want_hash=${2%% *} want_extras=${2#* } e
    [ "$have_hash" = "$want_hash" ] || return 1
    for e in ${want_extras//,/ }; do
        case ",$have_extras," in *",$e,"*) ;; *) return 1 ;; esac
    done
}

ensure_debian_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        say "note: Debian packages missing (${missing[*]}); tests that need them will skip"
        return 0
    fi
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${missing[@]}" >/dev/null; } \
        || say "note: could not install ${missing[*]}; tests that need them will skip"
}
