#!/usr/bin/env bash
# Build the Docker image smta-verify/postgres:15 without any container
# registry.
#
# Neither this machine nor CI can pull images, but Debian's apt repositories
# are reachable.  So the image's root filesystem is assembled from the
# PostgreSQL 15 installed on the host (installed with apt if it is missing):
# the server and client programs, their data files, exactly the shared
# libraries that `ldd` reports for them, and a tiny POSIX-sh entrypoint that
# behaves like the official `postgres` image's.  The tree is then turned into
# an image with `docker import`.  That is seconds of work, whereas
# debootstrapping a Debian and installing PostgreSQL inside would take minutes
# and be several times larger.
#
# Usage: ci/build-postgres-image.sh
#   stdout: the image name, alone, as the last (and only) line
#   stderr: progress
#   SMTA_PG_IMAGE_REBUILD=1  rebuild even if the image already exists
#   SMTA_PG_IMAGE_SKIP_CHECK=1  skip the smoke test of the fresh image
set -euo pipefail

IMAGE=smta-verify/postgres:15
PG_MAJOR=15
PG_UID=999
PG_GID=999

PG_LIBDIR=/usr/lib/postgresql/$PG_MAJOR
PG_SHAREDIR=/usr/share/postgresql/$PG_MAJOR
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENTRYPOINT_SRC=$HERE/postgres-image/docker-entrypoint.sh

# Callers capture stdout to learn the image name, so everything else -- our
# messages and whatever apt, tar or docker print -- is pushed to stderr.
exec 3>&1 1>&2

log() { printf 'build-postgres-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

finish() {
	printf '%s\n' "$IMAGE" >&3
	exit 0
}

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "the Docker engine is not reachable (docker info failed)"

if [[ ${SMTA_PG_IMAGE_REBUILD:-0} != 1 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
	log "$IMAGE already exists; nothing to do"
	finish
fi

[[ -r $ENTRYPOINT_SRC ]] || die "missing $ENTRYPOINT_SRC"

# Debian's packages are the only source of PostgreSQL we can reach; on a
# fresh CI machine (root) install them, elsewhere say exactly what is missing.
ensure_postgres_installed() {
	if [[ -x $PG_LIBDIR/bin/postgres && -x $PG_LIBDIR/bin/initdb && -f $PG_LIBDIR/lib/pgcrypto.so ]]; then
		return
	fi
	if [[ $(id -u) != 0 ]]; then
		die "PostgreSQL $PG_MAJOR is not installed ($PG_LIBDIR/bin/postgres missing); run as root: apt-get install -y postgresql-$PG_MAJOR"
	fi
	command -v apt-get >/dev/null || die "PostgreSQL $PG_MAJOR is missing and apt-get is not available"
	log "PostgreSQL $PG_MAJOR not found; installing postgresql-$PG_MAJOR with apt-get"
	# The package's postinst would start a cluster on the host's port 5432,
	# which could then collide with test servers; a policy-rc.d that answers
	# 101 tells invoke-rc.d not to start it.  An existing one is left alone.
	local policy=/usr/sbin/policy-rc.d created_policy=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		created_policy=1
	fi
	# A package that dpkg lists as installed but whose files are gone would be
	# a no-op for a plain install; --reinstall puts the files back.
	local reinstall=()
	if dpkg-query -W -f '${Status}' "postgresql-$PG_MAJOR" 2>/dev/null | grep -q 'install ok installed'; then
		reinstall=(--reinstall)
	fi
	local rc=0
	{
		DEBIAN_FRONTEND=noninteractive apt-get update -q &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
				"${reinstall[@]}" "postgresql-$PG_MAJOR"
	} || rc=$?
	if ((created_policy)); then rm -f "$policy"; fi
	((rc == 0)) || die "apt-get install postgresql-$PG_MAJOR failed (exit $rc)"
	[[ -x $PG_LIBDIR/bin/postgres ]] || die "postgresql-$PG_MAJOR installed but $PG_LIBDIR/bin/postgres is still missing"
}

ensure_postgres_installed
[[ -f $PG_SHAREDIR/extension/pgcrypto.control ]] || die "$PG_SHAREDIR/extension/pgcrypto.control missing"
for tool in ldd tar setpriv dash mkdir chown chmod locale; do
	command -v "$tool" >/dev/null || die "required host tool '$tool' not found"
done

start_ns=$(date +%s%N)
work=$(mktemp -d "${TMPDIR:-/tmp}/smta-pg-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"

# Debian 12 is usr-merged; the image follows suit so that every path ldd
# prints (/lib/..., /lib64/..., /usr/lib/...) lands in one real directory.
mkdir -p "$root"/usr/{bin,sbin,lib,lib64} "$root"/usr/local/bin
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done

# Files we copy whose shared libraries must be found by ldd.
elves=()

# Copy a host file to the same path inside the image.
copy_file() {
	local src=$1 dst=$root$1
	mkdir -p "$(dirname "$dst")"
	cp -a "$src" "$dst"
}

# --- PostgreSQL programs -------------------------------------------------
# All server and client programs are kept (they are 13 MB and share their
# libraries): tests and people debug through `docker exec psql/pg_dump`.
# pg_config only describes build flags for compiling extensions.
mkdir -p "$root$PG_LIBDIR/bin" "$root$PG_LIBDIR/lib"
for f in "$PG_LIBDIR"/bin/*; do
	[[ $(basename "$f") == pg_config ]] && continue
	copy_file "$f"
	[[ -L $f ]] || elves+=("$f")
done

# Extension and encoding-conversion modules.  llvmjit is left out on purpose:
# it drags in libLLVM and libz3 (~130 MB).  Without it the server just runs
# without JIT (it probes for the file and silently disables JIT), which suits
# short test queries anyway.  bitcode/ only serves JIT; pgxs/ only builds.
for f in "$PG_LIBDIR"/lib/*.so; do
	[[ $(basename "$f") == llvmjit* ]] && continue
	copy_file "$f"
	elves+=("$f")
done

# Catalog bootstrap files, extension scripts (pgcrypto & co.), tsearch data,
# timezone abbreviations.  man/ is documentation.
mkdir -p "$root$PG_SHAREDIR"
for f in "$PG_SHAREDIR"/*; do
	[[ $(basename "$f") == man ]] && continue
	cp -a "$f" "$root$PG_SHAREDIR/"
done

# Debian builds PostgreSQL against the system tz database, so without
# /usr/share/zoneinfo even initdb fails.  right/ (leap-second variants) is
# unused by PostgreSQL; localtime points at the host's /etc/localtime.
mkdir -p "$root/usr/share/zoneinfo"
for f in /usr/share/zoneinfo/*; do
	case $(basename "$f") in right | localtime) continue ;; esac
	cp -a "$f" "$root/usr/share/zoneinfo/"
done

# --- the few generic tools the entrypoint needs ---------------------------
# dash as /bin/sh (the entrypoint and pg_ctl's `sh -c exec postgres` need a
# shell); mkdir/chown/chmod to prepare a mounted volume; setpriv to drop from
# root to the postgres user without installing gosu/su-exec; locale because
# initdb runs `locale -a` to import OS collations and warns without it.
for tool in dash mkdir chown chmod setpriv locale; do
	src=$(readlink -f "$(command -v "$tool")")
	install -D -m 755 "$src" "$root/usr/bin/$tool"
	elves+=("$src")
done
ln -s dash "$root/usr/bin/sh"
# glibc's built-in C.UTF-8 (400 KB) gives initdb a C.utf8 collation, as the
# official image has; other locales are not needed with --locale=C.
if [[ -d /usr/lib/locale/C.utf8 ]]; then
	mkdir -p "$root/usr/lib/locale"
	cp -a /usr/lib/locale/C.utf8 "$root/usr/lib/locale/"
fi
install -D -m 755 "$ENTRYPOINT_SRC" "$root/usr/local/bin/docker-entrypoint.sh"

# --- shared libraries ---------------------------------------------------
# ldd gives the full closure (direct and indirect) plus the dynamic loader.
# Each library is copied dereferenced under the name the binaries ask for,
# which is all the loader needs: Debian's loader searches the multiarch
# directories by default, so no ld.so.cache is required.
declare -A libs=()
for f in "${elves[@]}"; do
	if ! out=$(ldd "$f" 2>&1); then
		# Statically linked or not ELF: nothing to resolve.
		[[ $out == *"not a dynamic executable"* ]] && continue
		die "ldd $f failed: $out"
	fi
	if [[ $out == *"not found"* ]]; then
		die "ldd $f reports missing libraries: $out"
	fi
	while read -r first arrow path _; do
		if [[ $arrow == "=>" && $path == /* ]]; then
			libs[$path]=1
		elif [[ $first == /* ]]; then
			libs[$first]=1 # the dynamic loader
		fi
	done <<<"$out"
done
((${#libs[@]} > 0)) || die "ldd found no libraries; refusing to build an empty image"
for lib in "${!libs[@]}"; do
	mkdir -p "$(dirname "$root$lib")"
	cp -L "$lib" "$root$lib"
done
log "copied ${#elves[@]} programs/modules and ${#libs[@]} shared libraries"
loader=$(ldd "$PG_LIBDIR/bin/postgres" | awk '$1 ~ /^\// && $2 != "=>" {print $1; exit}')
[[ -n $loader ]] || die "could not determine the dynamic loader of postgres"

# --- minimal /etc and the directories postgres writes to ----------------
mkdir -p "$root"/{etc,dev,proc,sys,root,run/postgresql,var/lib/postgresql/data,docker-entrypoint-initdb.d,tmp}
ln -s ../run "$root/var/run"
cat >"$root/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/sh
postgres:x:$PG_UID:$PG_GID:PostgreSQL administrator:/var/lib/postgresql:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$root/etc/group" <<EOF
root:x:0:
postgres:x:$PG_GID:
nogroup:x:65534:
EOF
# glibc's defaults without this file differ per database (hosts tries DNS
# first); spell out files-first lookups.
cat >"$root/etc/nsswitch.conf" <<'EOF'
passwd: files
group:  files
shadow: files
hosts:  files dns
EOF
chmod 1777 "$root/tmp"
chmod 700 "$root/root" "$root/var/lib/postgresql/data"
chmod 3777 "$root/run/postgresql"

# --- import --------------------------------------------------------------
# Ownership is set in the tar stream (not with chown on disk), so the build
# is correct whether or not it runs as root: everything root-owned except
# the directories the postgres user writes to.
tarball=$work/rootfs.tar
tar -C "$root" --numeric-owner --owner=0 --group=0 \
	--exclude=./var/lib/postgresql --exclude=./run/postgresql \
	-cf "$tarball" .
tar -C "$root" --numeric-owner --owner="$PG_UID" --group="$PG_GID" \
	--no-recursion -rf "$tarball" ./var/lib/postgresql ./var/lib/postgresql/data ./run/postgresql

# USER stays root: the entrypoint needs it only to hand a mounted $PGDATA to
# the postgres user, then drops to uid $PG_UID itself.
# No VOLUME, unlike the official image: `docker rm -f` (without -v) would
# leave one anonymous volume behind per test container.  On fuse-overlayfs
# the data directory is slow, so callers that care about start time pass
# `--tmpfs /var/lib/postgresql/data`.
# No STOPSIGNAL SIGINT either (the official image's fast shutdown): the
# 20.10 engine rejects STOPSIGNAL in `docker import --change`, so
# `docker stop` requests a smart shutdown, which waits for open sessions.
changes=(
	"ENV PATH=$PG_LIBDIR/bin:/usr/local/bin:/usr/bin:/bin"
	"ENV PGDATA=/var/lib/postgresql/data"
	"ENV PG_MAJOR=$PG_MAJOR"
	"WORKDIR /"
	"USER root"
	"EXPOSE 5432"
	'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]'
	'CMD ["postgres"]'
)
change_args=()
for c in "${changes[@]}"; do change_args+=(--change "$c"); done

# On a forced rebuild the previous image would linger untagged; remember it.
old_id=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)

pg_version=$("$PG_LIBDIR/bin/postgres" --version)
log "importing $IMAGE ($pg_version)"
docker import "${change_args[@]}" \
	--message "assembled by ci/build-postgres-image.sh from host $pg_version" \
	"$tarball" "$IMAGE" >/dev/null

# --- smoke test ----------------------------------------------------------
# Resolve every program's libraries with the image's own loader, inside the
# image, so a library that ldd found on the host but that did not make it
# (or is not found at its path) fails the build now, not in a test later.
if [[ ${SMTA_PG_IMAGE_SKIP_CHECK:-0} != 1 ]]; then
	check_list=()
	for f in "${elves[@]}"; do
		case $f in "$PG_LIBDIR"/*) check_list+=("$f") ;; *) check_list+=("/usr/bin/$(basename "$f")") ;; esac
	done
	# shellcheck disable=SC2016
	check_out=$(docker run --rm --network none --entrypoint /bin/sh "$IMAGE" -c '
		ld=$1; shift
		for f in "$@"; do
			out=$("$ld" --list "$f" 2>&1) || echo "BROKEN $f: $out"
			case $out in *"not found"*) echo "BROKEN $f: $out" ;; esac
		done
		postgres --version
	' check "$loader" "${check_list[@]}" 2>&1) || true
	if [[ $check_out == *BROKEN* || $check_out != *"PostgreSQL"*"$PG_MAJOR"* ]]; then
		docker image rm "$IMAGE" >/dev/null 2>&1 || true
		die "the imported image is broken; removed it. Check output: $check_out"
	fi
fi

new_id=$(docker image inspect --format '{{.Id}}' "$IMAGE")
if [[ -n $old_id && $old_id != "$new_id" ]]; then
	# Fails harmlessly while a container still uses the old image.
	docker image rm "$old_id" >/dev/null 2>&1 || log "note: old image $old_id is still in use; left in place"
fi

elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
log "built $IMAGE: $((size / 1024 / 1024)) MiB in $((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000))) s"
finish
