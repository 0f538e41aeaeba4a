#!/bin/sh
# Runs the service SERVICE names as PID 1 (exec: SIGTERM reaches node, which drains and exits).
set -eu
case "${SERVICE:-all}" in
  all) exec node /app/cli/dist/main.js start "$@" ;;
  gateway|auth|users|audit) exec node "/app/services/$SERVICE/dist/main.js" "$@" ;;
  *) echo "gatehouse: SERVICE must be all, gateway, auth, users or audit, got \"$SERVICE\"" >&2; exit 64 ;;
esac
