#!/bin/sh
# The official image's entrypoint contract (test fixture): `-flags` or a `.conf` first argument
# run redis-server with them; protected mode is off unless the arguments say otherwise (the
# official image builds Redis with it off). Appended, so `--version` still comes first.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
  case " $* " in
    *" --protected-mode "*) ;;
    *) set -- "$@" --protected-mode no ;;
  esac
fi
exec "$@"
