#!/bin/sh
# Build Mosquitto's password file from environment variables, then start the broker.
#
#   KILOWATCH_MQTT_BRIDGE_PASSWORD     required: password of user "bridge" (reads kilowatch/#)
#   KILOWATCH_MQTT_AGENT_PASSWORDS     optional: "plant:password" pairs separated by spaces or
#                                      newlines; each agent logs in with its plant id as username
#   KILOWATCH_MQTT_SIMULATOR_PASSWORD  optional: password of user "simulator" (writes kilowatch/#)
#   KILOWATCH_MQTT_PASSWORD_FILE       where to write it (default /mosquitto/auth/passwd, the
#                                      path mosquitto.conf reads)
#
# Arguments are the command to run (default: mosquitto with /mosquitto/config/mosquitto.conf).
# Secrets stay out of the repository and out of the image: only their salted hashes reach the
# file. Each password is passed to mosquitto_passwd -b rather than written as user:password and
# converted with -U, which cuts a password at its first ':'.
set -eu

passwd_file="${KILOWATCH_MQTT_PASSWORD_FILE:-/mosquitto/auth/passwd}"

fail() {
    echo "error: $*" >&2
    exit 2
}

[ -n "${KILOWATCH_MQTT_BRIDGE_PASSWORD:-}" ] ||
    fail "KILOWATCH_MQTT_BRIDGE_PASSWORD is not set: give the bridge user a password"

umask 077
mkdir -p "$(dirname "$passwd_file")"
mosquitto_passwd -c -b "$passwd_file" bridge "$KILOWATCH_MQTT_BRIDGE_PASSWORD"
if [ -n "${KILOWATCH_MQTT_SIMULATOR_PASSWORD:-}" ]; then
    mosquitto_passwd -b "$passwd_file" simulator "$KILOWATCH_MQTT_SIMULATOR_PASSWORD"
fi
set -f # the pairs are split on white space below; a '*' in a password must not be globbed
entry=0
for pair in ${KILOWATCH_MQTT_AGENT_PASSWORDS:-}; do
    entry=$((entry + 1))
    plant="${pair%%:*}"
    password="${pair#*:}"
    # The plant id becomes the username the ACL pattern substitutes: keep it to the contract's
    # id characters so it cannot widen the pattern (no '/', '+' or '#').
    if [ "$plant" = "$pair" ] || [ -z "$password" ] ||
        ! printf '%s' "$plant" | grep -Eq '^[A-Za-z0-9_.-]{1,64}$'; then
        fail "KILOWATCH_MQTT_AGENT_PASSWORDS entry $entry must be plant:password with a plant" \
            "id of 1-64 characters A-Z a-z 0-9 _ . -"
    fi
    case "$plant" in
        bridge | simulator)
            fail "KILOWATCH_MQTT_AGENT_PASSWORDS entry $entry: '$plant' is a service user, not a plant" ;;
    esac
    if cut -d: -f1 "$passwd_file" | grep -Fxq "$plant"; then
        fail "KILOWATCH_MQTT_AGENT_PASSWORDS names plant '$plant' twice"
    fi
    mosquitto_passwd -b "$passwd_file" "$plant" "$password"
done
set +f

[ "$#" -gt 0 ] || set -- mosquitto -c /mosquitto/config/mosquitto.conf
# The eclipse-mosquitto image's own entrypoint gives /mosquitto to the mosquitto user.
if [ -x /docker-entrypoint.sh ]; then
    exec /docker-entrypoint.sh "$@"
fi
exec "$@"
