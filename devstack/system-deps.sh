#!/usr/bin/env bash
# System (apt) packages the test suite needs, installed when missing. Idempotent: `make test`
# runs it every time, and it does nothing once everything is there.
#
# As root, a missing entry triggers one `apt-get update` and one `apt-get install -y` of the
# missing packages. As another user it prints the `sudo apt-get install` line to run, and exits
# non-zero only when a required package is missing.
#
# One entry per line: "package  probe  required|optional", where probe is a command looked up on
# PATH, or an absolute path that must exist.
set -euo pipefail

PACKAGES='
podman                       podman                           required
buildah                      buildah                          required
runc                         runc                             required
fuse-overlayfs               fuse-overlayfs                   required
slirp4netns                  slirp4netns                      required
uidmap                       newuidmap                        required
containernetworking-plugins  /usr/lib/cni/bridge              required
debootstrap                  debootstrap                      required
chromium                     chromium                         required
chromium-driver              chromedriver                     required
openjdk-17-jre-headless      java                             required
prometheus                   promtool                         required
'

present() {
    case "$1" in
        /*) [[ -e "$1" ]] ;;
        *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

missing=() missing_required=()
while read -r package probe need; do
    [[ -z "${package:-}" ]] && continue
    if ! present "$probe"; then
        missing+=("$package")
        [[ "$need" == required ]] && missing_required+=("$package")
    fi
done <<<"$PACKAGES"

if ((${#missing[@]} == 0)); then
    exit 0
fi

if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
    exit 0
fi

echo "system-deps: missing system packages: ${missing[*]}" >&2
echo "system-deps: install them with: sudo apt-get install -y ${missing[*]}" >&2
if ((${#missing_required[@]} > 0)); then
    exit 1
fi
