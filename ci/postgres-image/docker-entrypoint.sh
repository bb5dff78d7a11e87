#!/bin/sh
# Entrypoint of smta-verify/postgres:15, :17 and :18 (built by ci/build-postgres-image.sh).
#
# It mimics the part of the official `postgres` image's entrypoint that our
# tests rely on: same environment variables, same data directory, same
# "initialise on first start, then exec postgres" flow.  The image contains
# only dash and a handful of binaries (mkdir, chown, chmod, setpriv, locale,
# the PostgreSQL programs), so this script must stay POSIX sh and use
# builtins wherever it can.
#
# Readiness: on a fresh data directory the database is created WITHOUT a
# temporary server (initdb + single-user mode), so the log line
# "database system is ready to accept connections" is printed exactly once,
# by the real server, on stderr, when TCP connections are really accepted.
# The one exception is /docker-entrypoint-initdb.d: scripts there need a live
# server, so (like the official image) a temporary unix-socket-only server is
# started; its own ready line then goes to stdout, before the real one on
# stderr -- i.e. the line appears twice, as with the official image.
# Consequence: a harness that waits for the line on stdout (some do, because
# the official image's temporary server prints it there) never sees it
# without init scripts; wait on stderr or on the combined log instead.
set -eu

PG_UID=999
PG_GID=999

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

log() { printf 'docker-entrypoint: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# `docker run IMAGE -c fsync=off` must mean "postgres -c fsync=off", as in the
# official image; anything that is not a flag is run as a plain command.
case "${1-}" in
	'') set -- postgres ;;
	-*) set -- postgres "$@" ;;
esac
if [ "$1" != postgres ] && [ "$1" != postmaster ]; then
	exec "$@"
fi
# `postgres --version` and friends only print something: no initdb, no root
# check, no extra -c options.
for arg; do
	case $arg in
		'-?' | --help | --describe-config | -V | --version) exec "$@" ;;
	esac
done

# No `id` in the image: read the real uid from procfs with builtins only.
uid=
while read -r key value _rest; do
	if [ "$key" = Uid: ]; then uid=$value; break; fi
done </proc/self/status

if [ "$uid" = 0 ]; then
	# A volume mounted on $PGDATA arrives owned by root; postgres refuses to
	# run as root, so hand the directories over and re-exec unprivileged.
	mkdir -p "$PGDATA" /run/postgresql
	chown "$PG_UID:$PG_GID" "$PGDATA" /run/postgresql
	chmod 700 "$PGDATA"
	chmod 3777 /run/postgresql
	exec setpriv --reuid="$PG_UID" --regid="$PG_GID" --clear-groups -- "$0" "$@"
fi

# Double embedded quotes so any database name survives as one identifier.
quote_ident() {
	rest=$1 out=
	while :; do
		case $rest in
			*\"*) out="$out${rest%%\"*}\"\""; rest=${rest#*\"} ;;
			*) out="$out$rest"; break ;;
		esac
	done
	printf '"%s"' "$out"
}

run_initdb_scripts() {
	# Only a live server can run arbitrary psql scripts; it listens on the
	# unix socket only so that no client can reach a half-initialised cluster.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c fsync=$single_fsync" -w start
	for f in /docker-entrypoint-initdb.d/*; do
		[ -e "$f" ] || continue
		case $f in
			*.sh)
				log "running $f"
				# shellcheck disable=SC1090 # user-supplied script
				if [ -x "$f" ]; then "$f"; else . "$f"; fi
				;;
			*.sql)
				log "running $f"
				psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$pg_user" \
					--dbname "$pg_db" -f "$f"
				;;
			*) log "ignoring $f (only *.sh and *.sql are supported)" ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop
}

# True when the server arguments turn fsync off (`-c fsync=off`,
# `-cfsync=off`, `--fsync=off`, `-F`).  Whoever asks for that has given up
# durability, so initialisation skips its own flushes as well: on the
# fuse-overlayfs storage of our CI those take about a second and a half.
fsync_disabled() {
	prev=
	for arg; do
		case $prev$arg in
			-F | -cfsync=off | -cfsync=false | -cfsync=no | -cfsync=0 | \
				--fsync=off | --fsync=false | --fsync=no | --fsync=0) return 0 ;;
		esac
		prev=
		if [ "$arg" = -c ]; then prev=-c; fi
	done
	return 1
}

init_cluster() {
	pg_user=${POSTGRES_USER:-postgres}
	# Same default as the official image: the database is named after the
	# superuser, so a client that omits dbname still lands somewhere valid.
	pg_db=${POSTGRES_DB:-$pg_user}
	password=${POSTGRES_PASSWORD:-}

	if [ "${POSTGRES_HOST_AUTH_METHOD:-}" = trust ]; then
		method=trust
	elif [ -n "$password" ]; then
		method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
	elif [ -n "${POSTGRES_HOST_AUTH_METHOD:-}" ]; then
		method=$POSTGRES_HOST_AUTH_METHOD
	else
		# Deliberately more lenient than the official image (which refuses to
		# start here): our containers are throwaway test servers.
		log "warning: POSTGRES_PASSWORD is not set; allowing every host connection without a password (trust)"
		method=trust
	fi
	case $method in
		md5 | scram-sha-256 | password)
			[ -n "$password" ] || die "POSTGRES_HOST_AUTH_METHOD=$method needs POSTGRES_PASSWORD"
			;;
	esac

	nosync='' single_fsync=on
	if fsync_disabled "$@"; then
		nosync=--no-sync
		single_fsync=off
	fi

	# TZ is set only to spare initdb its scan of every zone file; an explicit
	# TZ from `docker run -e` still wins.
	# POSTGRES_INITDB_ARGS is split on whitespace on purpose (it holds several
	# options, as with the official image); globbing is off so that '*' stays
	# literal.
	set -f
	# shellcheck disable=SC2086
	if [ -n "$password" ]; then
		printf '%s\n' "$password" | TZ="${TZ:-UTC}" initdb \
			--username="$pg_user" --pwfile=/dev/stdin \
			--locale=C --encoding=UTF8 \
			--auth-local=trust --auth-host="$method" $nosync \
			${POSTGRES_INITDB_ARGS:-}
	else
		TZ="${TZ:-UTC}" initdb \
			--username="$pg_user" \
			--locale=C --encoding=UTF8 \
			--auth-local=trust --auth-host="$method" $nosync \
			${POSTGRES_INITDB_ARGS:-}
	fi
	set +f

	# initdb only admits loopback over TCP; a container is reached through
	# docker's NAT, so every address gets the chosen method.
	printf '\n# added by docker-entrypoint.sh\nhost all all all %s\n' "$method" >>"$PGDATA/pg_hba.conf"

	if [ "$pg_db" != postgres ]; then
		# Single-user mode creates the database without opening any socket,
		# which keeps the ready line honest (see the header).
		log "creating database $pg_db"
		printf 'CREATE DATABASE %s;\n' "$(quote_ident "$pg_db")" |
			postgres --single -D "$PGDATA" -c exit_on_error=on -c fsync="$single_fsync" postgres >/dev/null
	fi

	if [ -d /docker-entrypoint-initdb.d ] &&
		{ ! [ -r /docker-entrypoint-initdb.d ] || ! [ -x /docker-entrypoint-initdb.d ]; }; then
		# A glob over an unreadable directory silently matches nothing.
		log "warning: /docker-entrypoint-initdb.d is not readable by uid $PG_UID; its scripts are skipped"
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		if [ -e "$f" ]; then
			run_initdb_scripts
			break
		fi
	done

	log "initialisation complete; starting the server"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	init_cluster "$@"
fi

shift # drop "postgres"/"postmaster"; the server is always execed by name
exec postgres -c "listen_addresses=*" "$@"
