#!/usr/bin/env bash
# Install a campuspass door node on Raspberry Pi OS (Bookworm). See docs/raspberry-pi.md.
#
#   sudo provisioning/install-pi.sh [--dry-run] PACKAGE BUNDLE_DIR
#
#   PACKAGE     a campuspass wheel (campuspass-*.whl) or a source folder (with pyproject.toml)
#   BUNDLE_DIR  the node bundle from `campuspass provision node` (node.toml, node.key, root.pub,
#               trust-bundle.json, revocations.json, policy.json)
#
# What it does: apt packages; a system user `campuspass` in the gpio and video groups; a
# virtualenv with system site packages (picamera2 and lgpio come from apt) in
# /opt/campuspass/venv; the bundle in /etc/campuspass/node (node.key 0600, owned by the
# service user); the node database folder /var/lib/campuspass; the systemd unit
# campuspass-node.service (enabled and started). --dry-run prints every command and the unit
# file instead of running them. Running it again upgrades campuspass and replaces the bundle.
set -euo pipefail

SERVICE_USER=campuspass
VENV=/opt/campuspass/venv
CONFIG_DIR=/etc/campuspass/node
DATA_DIR=/var/lib/campuspass
UNIT_NAME=campuspass-node.service
UNIT_DEST=/etc/systemd/system/$UNIT_NAME
APT_PACKAGES=(python3-venv python3-picamera2 python3-lgpio libzbar0)
# picamera2's compiled helpers from apt are built against numpy 1.x: keep the venv on 1.x.
PIP_CONSTRAINTS="numpy<2"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
UNIT_SOURCE=$HERE/$UNIT_NAME

usage() {
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}

DRY_RUN=0
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        -h|--help) usage 0 ;;
        --) shift; ARGS+=("$@"); break ;;
        -*) echo "install-pi.sh: unknown option $1" >&2; usage 2 ;;
        *) ARGS+=("$1") ;;
    esac
    shift
done
[ "${#ARGS[@]}" -eq 2 ] || usage 2
PACKAGE=${ARGS[0]}
BUNDLE=${ARGS[1]}

die() { echo "install-pi.sh: $*" >&2; exit 1; }

# One word as the shell would need it: bare when safe, else in single quotes.
quote() {
    if [[ "$1" =~ ^[A-Za-z0-9_./:=@,+-]+$ ]]; then
        printf '%s' "$1"
    else
        printf "'%s'" "${1//\'/\'\\\'\'}"
    fi
}

# Print a command (shell-quoted); run it unless --dry-run.
run() {
    local line="+" word
    for word in "$@"; do
        line+=" $(quote "$word")"
    done
    echo "$line"
    if [ "$DRY_RUN" -eq 0 ]; then
        "$@"
    fi
}

# --- checks -------------------------------------------------------------------------------
[ -f "$UNIT_SOURCE" ] || die "unit file $UNIT_SOURCE is missing (keep it next to this script)"
if [ -d "$PACKAGE" ]; then
    [ -f "$PACKAGE/pyproject.toml" ] || die "$PACKAGE has no pyproject.toml; expected a campuspass source folder"
    PACKAGE=$(cd "$PACKAGE" && pwd)
elif [ -f "$PACKAGE" ]; then
    case "$PACKAGE" in *.whl) ;; *) die "$PACKAGE is not a wheel (.whl)";; esac
    PACKAGE=$(cd "$(dirname "$PACKAGE")" && pwd)/$(basename "$PACKAGE")
else
    die "$PACKAGE does not exist; expected a campuspass wheel or source folder"
fi
[ -d "$BUNDLE" ] || die "$BUNDLE is not a folder; expected a node bundle"
for f in node.toml node.key root.pub; do
    [ -f "$BUNDLE/$f" ] || die "$BUNDLE/$f is missing; expected a complete node bundle"
done
if [ "$DRY_RUN" -eq 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "run as root (sudo), or with --dry-run to see what it would do"
    if ! grep -q '^VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null; then
        echo "install-pi.sh: warning: this is not Raspberry Pi OS Bookworm; continuing" >&2
    fi
fi

# --- apt packages -------------------------------------------------------------------------
# --no-install-recommends keeps picamera2's GUI preview dependencies off a headless node.
run apt-get update
run apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"

# --- service user -------------------------------------------------------------------------
for group in gpio video; do
    if ! getent group "$group" >/dev/null; then
        run groupadd --system "$group"
    fi
done
if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    run useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "campuspass door node" "$SERVICE_USER"
fi
run usermod --append --groups gpio,video "$SERVICE_USER"

# --- virtualenv and campuspass ------------------------------------------------------------
run install -d -m 0755 /opt/campuspass
if [ ! -x "$VENV/bin/python" ] || [ "$DRY_RUN" -eq 1 ]; then
    run python3 -m venv --system-site-packages "$VENV"
fi
CONSTRAINTS_FILE=/opt/campuspass/constraints.txt
echo "+ printf '%s\\n' '$PIP_CONSTRAINTS' > $CONSTRAINTS_FILE"
if [ "$DRY_RUN" -eq 0 ]; then
    printf '%s\n' "$PIP_CONSTRAINTS" > "$CONSTRAINTS_FILE"
fi
# the edge extra: what a door node needs, and nothing of the central server (no templates, no LDAP)
run "$VENV/bin/pip" install --upgrade --constraint "$CONSTRAINTS_FILE" "${PACKAGE}[edge]"

# --- node bundle and data folder ----------------------------------------------------------
run install -d -m 0755 /etc/campuspass
run install -d -o root -g "$SERVICE_USER" -m 0750 "$CONFIG_DIR"
for path in "$BUNDLE"/*; do
    [ -f "$path" ] || continue
    name=$(basename "$path")
    if [ "$name" = node.key ]; then
        run install -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0600 "$path" "$CONFIG_DIR/$name"
    else
        run install -o root -g "$SERVICE_USER" -m 0640 "$path" "$CONFIG_DIR/$name"
    fi
done
# The node database lives in /var/lib/campuspass (the only folder the unit may write).
run sed -i -E "s|^([[:space:]]*data_dir[[:space:]]*=).*|\\1 \"$DATA_DIR\"|" "$CONFIG_DIR/node.toml"
if [ "$DRY_RUN" -eq 0 ] && ! grep -Eq '^[[:space:]]*data_dir[[:space:]]*=' "$CONFIG_DIR/node.toml"; then
    run sed -i "/^\\[node\\]/a data_dir = \"$DATA_DIR\"" "$CONFIG_DIR/node.toml"
fi
run install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0700 "$DATA_DIR"
run runuser -u "$SERVICE_USER" -- "$VENV/bin/campuspass" edge check-config --config "$CONFIG_DIR/node.toml"

# --- systemd unit -------------------------------------------------------------------------
echo "--- $UNIT_DEST ---"
cat "$UNIT_SOURCE"
echo "--- end of $UNIT_NAME ---"
run install -o root -g root -m 0644 "$UNIT_SOURCE" "$UNIT_DEST"
run systemctl daemon-reload
run systemctl enable "$UNIT_NAME"
run systemctl restart "$UNIT_NAME"

echo "installed. Logs: journalctl -u ${UNIT_NAME%.service} -f   Status: systemctl status ${UNIT_NAME%.service}"
