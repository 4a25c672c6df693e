#!/bin/sh
# The official image's entrypoint contract (test fixture): `-flags` or a `.conf` first argument
# run redis-server with them; protected mode is off unless the arguments turn it on.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
  shift
  set -- redis-server --protected-mode no "$@"
fi
exec "$@"
