# Shared by scripts/test and scripts/serve (sourced, not run): system packages and .venv.

PYTHON=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# apt_install PACKAGE...: install Debian packages as root, or through sudo.
apt_install() {
    (($#)) || return 0
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if ! command -v sudo >/dev/null; then
            echo "pyTorrent needs these Debian packages: $*; install them as root" \
                 "(apt-get install $*) and run this again" >&2
            return 1
        fi
        sudo=(sudo)
    fi
    echo "installing Debian packages: $*" >&2
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q \
        --no-install-recommends "$@"
}

# ensure_venv PIP_ARGS...: create .venv if needed and pip install PIP_ARGS into it,
# skipping pip when the same arguments and pyproject files were installed before.
ensure_venv() {
    if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
        apt_install python3-venv
    fi
    if [[ ! -x .venv/bin/python ]]; then
        "$PYTHON" -m venv .venv
    fi
    local stamp
    stamp=$( { printf '%s\n' "$@"; cat pyproject.toml plugins/*/pyproject.toml; } \
             | sha256sum | cut -d' ' -f1)
    if [[ ! -f .venv/.pytorrent-stamp ]] || ! grep -qx "$stamp" .venv/.pytorrent-stamp; then
        .venv/bin/python -m pip install -q "$@"
        echo "$stamp" >>.venv/.pytorrent-stamp
    fi
}
