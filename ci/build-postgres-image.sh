#!/usr/bin/env bash
# Build the Docker image smta-verify/postgres:N (N = 15, 17 or 18) without any
# container registry.
#
# Neither this machine nor CI can pull images, but Debian's package archive is
# reachable.  So each image's root filesystem is assembled from Debian's
# PostgreSQL packages and turned into an image with `docker import`:
#
#   15  the PostgreSQL 15 installed on the host (Debian 12 "bookworm"; installed
#       with apt if missing), as the host's programs run on the host's C library;
#   17  the packages of Debian 13 "trixie";
#   18  the packages of Debian "sid" (unstable).
#
# PostgreSQL 17 and 18 need their suite's C library, newer than the host's, so
# their packages (PostgreSQL, its libraries, the C library, dash, coreutils,
# util-linux, tzdata) are downloaded with a private apt configuration that
# points the host's Debian mirror at that suite, and unpacked into a staging
# tree.  PostgreSQL 16 is in no Debian suite, so there is no :16.
#
# From the host or the staging tree, the image receives: the server and client
# programs, their data files (pgcrypto included), exactly the shared libraries
# the programs load (resolved with that tree's own dynamic loader), the time
# zone database, a few tools for the entrypoint and a tiny POSIX-sh entrypoint
# that behaves like the official `postgres` image's.  That is seconds of work
# once the packages are cached, whereas debootstrapping a Debian and installing
# PostgreSQL inside would take minutes and be several times larger.
#
# Present and current: the image is labelled with a hash of its inputs -- the
# exact package versions it is made from, this script and the entrypoint.  A
# build whose image exists with the same hash does nothing.  For 17 and 18
# that needs the suite's package index (a few seconds); when the archive is not
# reachable an existing image is used as it is, with a warning.
#
# Reproducible: the same inputs give the same root filesystem, byte for byte
# (files sorted, owners numeric, every mtime set to one fixed date), so the
# image's layer digest (label org.smta-verify.layer) is the same on every
# machine.  The image id is not: `docker import` stamps the creation time into
# the image configuration.
#
# Usage: ci/build-postgres-image.sh [--version 15|17|18]   (default 15)
#   stdout: the image name, alone, as the last (and only) line
#   stderr: progress
#   SMTA_PG_IMAGE_REBUILD=1     rebuild even if the image is present and current
#   SMTA_PG_IMAGE_SKIP_CHECK=1  skip the smoke test of the fresh image
#   SMTA_PG_IMAGE_MIRROR=URI    the Debian archive to download from (default:
#                               the one the host's apt uses for bookworm)
#   SMTA_PG_IMAGE_CACHE=DIR     where downloaded packages and package indexes are
#                               kept between builds (default:
#                               ${XDG_CACHE_HOME:-~/.cache}/smta-verify/postgres-image)
set -euo pipefail
shopt -s extglob
umask 022
export LC_ALL=C

PG_MAJOR=15
while (($#)); do
	case $1 in
		--version) PG_MAJOR=${2-}; shift 2 || { echo "--version needs a value" >&2; exit 2; } ;;
		--version=*) PG_MAJOR=${1#--version=}; shift ;;
		-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 0 ;;
		*) echo "build-postgres-image: unknown argument '$1' (usage: $0 [--version 15|17|18])" >&2; exit 2 ;;
	esac
done
case $PG_MAJOR in
	15) SUITE= ;;
	17) SUITE=trixie ;;
	18) SUITE=sid ;;
	16) echo "build-postgres-image: PostgreSQL 16 is in no Debian suite (bookworm has 15, trixie 17, sid 18); choose 15, 17 or 18" >&2; exit 2 ;;
	*) echo "build-postgres-image: unsupported version '$PG_MAJOR'; choose 15, 17 or 18" >&2; exit 2 ;;
esac

IMAGE=smta-verify/postgres:$PG_MAJOR
PG_UID=999
PG_GID=999
# Every file of the image gets this modification time (2024-01-01 00:00 UTC).
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
LABEL_INPUTS=org.smta-verify.inputs
LABEL_LAYER=org.smta-verify.layer

PG_LIBDIR=/usr/lib/postgresql/$PG_MAJOR
PG_SHAREDIR=/usr/share/postgresql/$PG_MAJOR
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENTRYPOINT_SRC=$HERE/postgres-image/docker-entrypoint.sh
CACHE=${SMTA_PG_IMAGE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/smta-verify/postgres-image}

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
[[ -r $ENTRYPOINT_SRC ]] || die "missing $ENTRYPOINT_SRC"
for tool in tar sha256sum; do
	command -v "$tool" >/dev/null || die "required host tool '$tool' not found"
done

start_ns=$(date +%s%N)
work=$(mktemp -d "${TMPDIR:-/tmp}/smta-pg-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The programs the entrypoint needs besides PostgreSQL's: dash as /bin/sh (the
# entrypoint and pg_ctl's `sh -c exec postgres` need a shell); mkdir/chown/chmod
# to prepare a mounted volume; setpriv to drop from root to the postgres user
# without installing gosu/su-exec; locale because initdb runs `locale -a` to
# import OS collations and warns without it.
TOOLS=(/usr/bin/dash /usr/bin/mkdir /usr/bin/chown /usr/bin/chmod /usr/bin/setpriv /usr/bin/locale)

# --- where the files come from ------------------------------------------------
# SRC is the tree the image's files are copied from: / for 15, the staging tree
# of unpacked packages for 17 and 18.  INPUTS lists package=version lines.
SRC=
INPUTS=

# PostgreSQL 15: the host's installation, installed with apt when missing.
ensure_host_postgres() {
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

# The Debian archive the host's apt uses for bookworm: the same mirror serves
# trixie and sid.
host_mirror() {
	if [[ -n ${SMTA_PG_IMAGE_MIRROR:-} ]]; then
		printf '%s\n' "${SMTA_PG_IMAGE_MIRROR%/}"
		return
	fi
	command -v apt-get >/dev/null || die "apt-get is needed to download the $SUITE packages"
	local uri
	uri=$(apt-get indextargets --format '$(REPO_URI) $(LABEL) $(RELEASE)' 'Created-By: Packages' 2>/dev/null |
		awk '$2 == "Debian" && $3 !~ /-(security|updates|backports)$/ {print $1; exit}')
	[[ -n $uri ]] || die "the host's apt has no Debian archive configured (apt-get indextargets shows none); set SMTA_PG_IMAGE_MIRROR to a Debian mirror URI"
	printf '%s\n' "${uri%/}"
}

# apt with a private configuration for $SUITE: its own sources, package index,
# download cache and an empty dpkg status (so that it resolves every dependency,
# as for an empty root filesystem).  Nothing of the host's apt state is touched.
suite_apt() {
	local tool=$1
	shift
	"$tool" -o Dir::Etc::sourcelist="$APT_DIR/sources.list" -o Dir::Etc::sourceparts=/dev/null \
		-o Dir::Etc::preferencesparts=/dev/null \
		-o Dir::State="$APT_DIR/state" -o Dir::State::status="$APT_DIR/status" \
		-o Dir::Cache="$APT_DIR/cache" -o Debug::NoLocking=true \
		-o Acquire::Languages=none -o APT::Get::AllowUnauthenticated=false "$@"
}

# Packages whose files the image never uses: the maintainer-script world
# (perl, debconf, systemd, user management), the JIT compiler's libraries, and
# the wrappers of postgresql-common.  The dynamic-loader check below fails the
# build if anything excluded here turns out to be needed.
EXCLUDE='^(perl|perl-base|perl-modules-.*|libperl.*|lib.*-perl|debconf|ucf|adduser|passwd|login\.defs|base-passwd|systemd|libsystemd-shared|sysvinit-utils|init-system-helpers|locales|libc-l10n|postgresql-common|postgresql-client-common|ssl-cert|sensible-utils|netbase|procps|libproc2-.*|openssl|readline-common|libpam-modules|libpam-modules-bin|libpam-runtime|libllvm.*|libz3-.*|libclang.*|postgresql-[0-9]+-jit|debianutils|logrotate|cron|cron-daemon-common|sysstat|libsemanage.*|libdebconfclient0)='

# Resolves the packages of $SUITE that the image is made from: PostgreSQL and
# the entrypoint's tools, with their dependencies.  Sets INPUTS.
resolve_suite_packages() {
	APT_DIR=$CACHE/apt-$SUITE
	mkdir -p "$APT_DIR/state/lists/partial" "$APT_DIR/cache/archives/partial"
	: >"$APT_DIR/status"
	local mirror
	mirror=$(host_mirror)
	printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$mirror" "$SUITE" \
		>"$APT_DIR/sources.list"
	[[ -r /usr/share/keyrings/debian-archive-keyring.gpg ]] ||
		die "/usr/share/keyrings/debian-archive-keyring.gpg is missing (apt-get install debian-archive-keyring)"
	log "reading the $SUITE package index from $mirror"
	if ! suite_apt apt-get update -qq >"$work/apt-update.log" 2>&1; then
		if docker image inspect "$IMAGE" >/dev/null 2>&1 && [[ ${SMTA_PG_IMAGE_REBUILD:-0} != 1 ]]; then
			log "warning: the $SUITE package index could not be read; using the existing $IMAGE as it is"
			sed 's/^/  /' "$work/apt-update.log" >&2
			finish
		fi
		cat "$work/apt-update.log" >&2
		die "apt-get update for $SUITE failed; is $mirror reachable? (set SMTA_PG_IMAGE_MIRROR to another Debian mirror)"
	fi
	local sim
	sim=$(suite_apt apt-get install -s -qq --no-install-recommends \
		"postgresql-$PG_MAJOR" "postgresql-client-$PG_MAJOR" dash coreutils util-linux libc-bin tzdata 2>&1) ||
		die "apt cannot resolve postgresql-$PG_MAJOR in $SUITE: $sim"
	INPUTS=$(awk '$1 == "Inst" {v = $3; gsub(/[()]/, "", v); print $2 "=" v}' <<<"$sim" |
		grep -Ev "$EXCLUDE" | sort)
	grep -q "^postgresql-$PG_MAJOR=" <<<"$INPUTS" || die "$SUITE has no postgresql-$PG_MAJOR"
}

# Downloads the resolved packages (cached) and unpacks them into $SRC.
stage_suite_packages() {
	SRC=$work/stage
	mkdir -p "$SRC"/usr/{bin,sbin,lib,lib64}
	for d in bin sbin lib lib64; do ln -s "usr/$d" "$SRC/$d"; done
	local pkgs=()
	mapfile -t pkgs <<<"$INPUTS"
	log "downloading ${#pkgs[@]} $SUITE packages (cached in $APT_DIR/cache)"
	(cd "$APT_DIR/cache/archives" && suite_apt apt-get download -qq "${pkgs[@]}") >"$work/apt-download.log" 2>&1 ||
		{ cat "$work/apt-download.log" >&2; die "downloading the $SUITE packages failed"; }
	local line name version file
	for line in "${pkgs[@]}"; do
		name=${line%%=*}
		version=${line#*=}
		# apt names downloaded files name_version_arch.deb, with ':' escaped.
		file=$(compgen -G "$APT_DIR/cache/archives/${name}_${version//:/%3a}_*.deb" | head -n 1) ||
			die "the download of $line is missing from $APT_DIR/cache/archives"
		# --keep-directory-symlink keeps the usr-merge links (lib -> usr/lib)
		# that packages still shipping /lib paths would otherwise replace.
		dpkg-deb --fsys-tarfile "$file" | tar -x --keep-directory-symlink -C "$SRC" ||
			die "unpacking $file failed"
	done
}

# PostgreSQL 15's inputs: the host packages that own the files the image takes.
resolve_host_packages() {
	SRC=
	local files=("$PG_LIBDIR/bin/postgres" "$PG_LIBDIR/lib/pgcrypto.so" "$PG_SHAREDIR/extension/pgcrypto.control"
		/usr/share/zoneinfo/UTC "${TOOLS[@]}")
	local f
	for f in "${TOOLS[@]}"; do files+=("$(readlink -f "$f")"); done
	local lib
	for lib in $(ldd "$PG_LIBDIR/bin/postgres" "$PG_LIBDIR/bin/psql" "${TOOLS[@]}" 2>/dev/null |
		awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $2 != "=>" {print $1}' | sort -u); do
		files+=("$(readlink -f "$lib")")
	done
	# Debian 12 registers many files under their pre-usr-merge paths (/lib/...):
	# ask for both spellings.  Paths dpkg does not know are simply not listed.
	local alt=()
	for f in "${files[@]}"; do
		alt+=("$f")
		[[ $f == /usr/@(lib|lib64|bin|sbin)/* ]] && alt+=("${f#/usr}")
	done
	local owners
	owners=$({ dpkg -S "${alt[@]}" 2>/dev/null || true; } | grep -v '^diversion by' |
		cut -d: -f1 | tr ',' '\n' | tr -d ' ' | sort -u)
	[[ -n $owners ]] || die "dpkg -S found no package owning the PostgreSQL $PG_MAJOR files"
	# shellcheck disable=SC2086 # one package name per word
	INPUTS=$(dpkg-query -W -f '${Package}=${Version}\n' $owners | sort)
}

if [[ $PG_MAJOR == 15 ]]; then
	ensure_host_postgres
	for tool in ldd dpkg dpkg-query; do
		command -v "$tool" >/dev/null || die "required host tool '$tool' not found"
	done
	resolve_host_packages
	origin="host PostgreSQL $PG_MAJOR (Debian bookworm)"
else
	for tool in apt-get dpkg-deb; do
		command -v "$tool" >/dev/null || die "required host tool '$tool' not found (a Debian host is needed)"
	done
	resolve_suite_packages
	origin="Debian $SUITE packages"
fi

inputs_hash=$({
	printf 'postgres %s\n%s\n' "$PG_MAJOR" "$INPUTS"
	sha256sum <"${BASH_SOURCE[0]}"
	sha256sum <"$ENTRYPOINT_SRC"
} | sha256sum | cut -d' ' -f1)

existing=$(docker image inspect --format "{{index .Config.Labels \"$LABEL_INPUTS\"}}" "$IMAGE" 2>/dev/null || true)
if [[ ${SMTA_PG_IMAGE_REBUILD:-0} != 1 && $existing == "$inputs_hash" ]]; then
	log "$IMAGE is present and current (inputs $inputs_hash); nothing to do"
	finish
fi
if [[ -n $existing ]]; then
	log "$IMAGE is out of date (its inputs differ); rebuilding"
fi

[[ $PG_MAJOR == 15 ]] || stage_suite_packages

[[ -x $SRC$PG_LIBDIR/bin/postgres ]] || die "$SRC$PG_LIBDIR/bin/postgres missing"
[[ -f $SRC$PG_LIBDIR/lib/pgcrypto.so ]] || die "pgcrypto ($SRC$PG_LIBDIR/lib/pgcrypto.so) missing"
[[ -f $SRC$PG_SHAREDIR/extension/pgcrypto.control ]] || die "$SRC$PG_SHAREDIR/extension/pgcrypto.control missing"

root=$work/rootfs
mkdir -p "$root"

# Debian is usr-merged; the image follows suit so that every path a loader
# prints (/lib/..., /lib64/..., /usr/lib/...) lands in one real directory.
mkdir -p "$root"/usr/{bin,sbin,lib,lib64} "$root"/usr/local/bin
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done

# Files we copy whose shared libraries must be found; paths inside the image.
elves=()

# Copy a source file to the same path inside the image.
copy_file() {
	local path=$1
	mkdir -p "$(dirname "$root$path")"
	cp -a "$SRC$path" "$root$path"
}

# --- PostgreSQL programs -------------------------------------------------
# All server and client programs are kept (they are 13 MB and share their
# libraries): tests and people debug through `docker exec psql/pg_dump`.
# pg_config only describes build flags for compiling extensions.
mkdir -p "$root$PG_LIBDIR/bin" "$root$PG_LIBDIR/lib"
for f in "$SRC$PG_LIBDIR"/bin/*; do
	[[ $(basename "$f") == pg_config ]] && continue
	copy_file "${f#"$SRC"}"
	[[ -L $f ]] || elves+=("${f#"$SRC"}")
done

# Extension and encoding-conversion modules.  llvmjit is left out on purpose:
# it drags in libLLVM and libz3 (~130 MB).  Without it the server just runs
# without JIT (it probes for the file and silently disables JIT), which suits
# short test queries anyway.  bitcode/ only serves JIT; pgxs/ only builds.
for f in "$SRC$PG_LIBDIR"/lib/*.so; do
	[[ $(basename "$f") == llvmjit* ]] && continue
	copy_file "${f#"$SRC"}"
	elves+=("${f#"$SRC"}")
done

# Catalog bootstrap files, extension scripts (pgcrypto & co.), tsearch data,
# timezone abbreviations.  man/ is documentation.
mkdir -p "$root$PG_SHAREDIR"
for f in "$SRC$PG_SHAREDIR"/*; do
	[[ $(basename "$f") == man ]] && continue
	cp -a "$f" "$root$PG_SHAREDIR/"
done

# Debian builds PostgreSQL against the system tz database, so without
# /usr/share/zoneinfo even initdb fails.  right/ (leap-second variants) is
# unused by PostgreSQL; localtime is the host's.
mkdir -p "$root/usr/share/zoneinfo"
for f in "$SRC"/usr/share/zoneinfo/*; do
	case $(basename "$f") in right | localtime) continue ;; esac
	cp -a "$f" "$root/usr/share/zoneinfo/"
done

# --- the few generic tools the entrypoint needs ---------------------------
for tool in "${TOOLS[@]}"; do
	real=$(readlink -f "$SRC$tool")
	[[ -f $real ]] || die "$tool is missing from the source tree"
	install -D -m 755 "$real" "$root/usr/bin/$(basename "$tool")"
	elves+=("/usr/bin/$(basename "$tool")")
done
ln -s dash "$root/usr/bin/sh"
# glibc's built-in C.UTF-8 (400 KB) gives initdb a C.utf8 collation, as the
# official image has; other locales are not needed with --locale=C.
if [[ -d $SRC/usr/lib/locale/C.utf8 ]]; then
	mkdir -p "$root/usr/lib/locale"
	cp -a "$SRC/usr/lib/locale/C.utf8" "$root/usr/lib/locale/"
fi
install -D -m 755 "$ENTRYPOINT_SRC" "$root/usr/local/bin/docker-entrypoint.sh"

# --- shared libraries ---------------------------------------------------
# The loader lists the full closure (direct and indirect) plus itself.  For 15
# that is the host's ldd; for 17 and 18 the staging tree's own loader, told to
# search only the tree, so that every library comes from the suite (a path
# outside the tree means the suite lacks it, and fails the build).  Each library
# is copied dereferenced under the name the programs ask for, which is all the
# loader needs: Debian's loader searches the multiarch directories by default,
# so no ld.so.cache is required.
multiarch=x86_64-linux-gnu
if [[ -n $SRC ]]; then
	stage_loader=$SRC/usr/lib64/ld-linux-x86-64.so.2
	[[ -x $stage_loader ]] || stage_loader=$(compgen -G "$SRC/usr/lib/$multiarch/ld-linux-*.so.*" | head -n 1)
	[[ -n $stage_loader && -e $stage_loader ]] || die "no dynamic loader in the $SUITE packages"
	stage_path="$SRC/usr/lib/$multiarch:$SRC/usr/lib:$SRC$PG_LIBDIR/lib"
fi
list_libraries() {
	if [[ -z $SRC ]]; then
		ldd "$1" 2>&1
	else
		"$stage_loader" --inhibit-cache --library-path "$stage_path" --list "$SRC$1" 2>&1
	fi
}
declare -A libs=()
for f in "${elves[@]}"; do
	if ! out=$(list_libraries "$f"); then
		# Statically linked or not ELF: nothing to resolve.
		[[ $out == *"not a dynamic executable"* || $out == *"cannot be preloaded"* || $out == *"not a dynamic"* ]] && continue
		die "listing the libraries of $f failed: $out"
	fi
	if [[ $out == *"not found"* ]]; then
		die "$f needs libraries the tree lacks: $out"
	fi
	while read -r first arrow path _; do
		if [[ $arrow == "=>" && $path == /* ]]; then
			libs[$path]=1
		elif [[ $first == /* ]]; then
			libs[$first]=1 # the dynamic loader
		fi
	done <<<"$out"
done
((${#libs[@]} > 0)) || die "no libraries found; refusing to build an empty image"
for lib in "${!libs[@]}"; do
	inside=$lib
	if [[ -n $SRC ]]; then
		if [[ $lib == "$SRC"/* ]]; then
			inside=${lib#"$SRC"}
		elif [[ -e $SRC$lib ]]; then
			inside=$lib # the loader itself, named by its in-image path
		else
			die "$lib was found outside the $SUITE packages: the suite's packages lack it (adjust EXCLUDE?)"
		fi
	fi
	mkdir -p "$(dirname "$root$inside")"
	cp -L "$SRC$inside" "$root$inside"
done
log "copied ${#elves[@]} programs/modules and ${#libs[@]} shared libraries"
if [[ -z $SRC ]]; then
	loader=$(ldd "$PG_LIBDIR/bin/postgres" | awk '$1 ~ /^\// && $2 != "=>" {print $1; exit}')
else
	loader=/lib64/ld-linux-x86-64.so.2
fi
[[ -n $loader && -e $root$loader ]] || die "the dynamic loader $loader is not in the image"

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
# the directories the postgres user writes to.  Sorted names, one mtime and no
# access/change times make the stream depend on the files' contents only.
tarball=$work/rootfs.tar
tar_opts=(--sort=name --mtime="@$SOURCE_DATE_EPOCH" --numeric-owner --format=gnu)
tar -C "$root" "${tar_opts[@]}" --owner=0 --group=0 \
	--exclude=./var/lib/postgresql --exclude=./run/postgresql \
	-cf "$tarball" .
tar -C "$root" "${tar_opts[@]}" --owner="$PG_UID" --group="$PG_GID" \
	--no-recursion -rf "$tarball" ./var/lib/postgresql ./var/lib/postgresql/data ./run/postgresql
layer=sha256:$(sha256sum "$tarball" | cut -d' ' -f1)

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
	"LABEL $LABEL_INPUTS=$inputs_hash"
	"LABEL $LABEL_LAYER=$layer"
	"WORKDIR /"
	"USER root"
	"EXPOSE 5432"
	'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]'
	'CMD ["postgres"]'
)
change_args=()
for c in "${changes[@]}"; do change_args+=(--change "$c"); done

# On a rebuild the previous image would linger untagged; remember it.
old_id=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)

pg_version=$(awk -F= -v p="postgresql-$PG_MAJOR" '$1 == p {print $2}' <<<"$INPUTS")
log "importing $IMAGE (PostgreSQL $pg_version from $origin; layer $layer)"
docker import "${change_args[@]}" \
	--message "assembled by ci/build-postgres-image.sh from $origin, postgresql-$PG_MAJOR $pg_version" \
	"$tarball" "$IMAGE" >/dev/null

# --- smoke test ----------------------------------------------------------
# Resolve every program's libraries with the image's own loader, inside the
# image, so a library that was found at build time but did not make it (or is
# not found at its path) fails the build now, not in a test later.
if [[ ${SMTA_PG_IMAGE_SKIP_CHECK:-0} != 1 ]]; then
	# shellcheck disable=SC2016
	check_out=$(docker run --rm --network none --entrypoint /bin/sh "$IMAGE" -c '
		ld=$1; shift
		for f in "$@"; do
			out=$("$ld" --list "$f" 2>&1) || echo "BROKEN $f: $out"
			case $out in *"not found"*) echo "BROKEN $f: $out" ;; esac
		done
		postgres --version
	' check "$loader" "${elves[@]}" 2>&1) || true
	if [[ $check_out == *BROKEN* || $check_out != *"PostgreSQL"*" $PG_MAJOR."* ]]; then
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
