#!/usr/bin/env bash
# Builds CRIU 4.1.1 from Debian trixie's source package and installs it at
# /usr/local/lib/berth/criu/criu (berth's default; BERTH_CRIU overrides it), plus iptables, which
# criu runs (iptables-restore) to lock a container's network during a dump.
#
# Why a build: bookworm's criu 3.17 fails on recent kernels ("vdso: Unexpected rt vDSO area
# bounds"). Trixie's source builds against bookworm's libraries. The trixie deb-src list, apt's
# lists and the download cache live under $cache, never in the host's apt state, so the host
# keeps tracking bookworm only.
#
# It is also linked as /usr/local/bin/criu: podman looks criu up on PATH (and checks its version)
# before it calls `berth checkpoint`, and a criu on PATH that fails on this kernel helps nobody.
# An existing /usr/local/bin/criu that is not this link is left alone (setup says so).
#
# Cached and idempotent: nothing is fetched or built when the installed binary already reports
# version >= 4.1. Run as root.
set -euo pipefail

prefix=/usr/local/lib/berth/criu
bin="$prefix/criu"
cache=${BERTH_CRIU_CACHE:-/var/cache/berth-criu}

log() { echo "setup-criu: $*"; }

apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Run-time needs, also when the build is cached: iptables-restore for the network lock.
apt_install iptables

version_ok() {
  [ -x "$bin" ] || return 1
  local v major minor
  v=$("$bin" --version 2>/dev/null | sed -n 's/^Version: *//p' | head -n1)
  [ -n "$v" ] || return 1
  major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  [ "$major" -gt 4 ] || { [ "$major" -eq 4 ] && [ "$minor" -ge 1 ]; }
}

link_on_path() {
  local link=/usr/local/bin/criu
  if [ -e "$link" ] && [ "$(readlink "$link")" != "$bin" ]; then
    log "$link exists and is not $bin: left alone (podman uses the criu on PATH)"
    return 0
  fi
  ln -sfn "$bin" "$link"
}

if version_ok; then
  link_on_path
  log "$("$bin" --version | head -n1 | tr -s ' ') at $bin (cached)"
  exit 0
fi

apt_install build-essential pkg-config dpkg-dev xz-utils \
  protobuf-c-compiler libprotobuf-c-dev protobuf-compiler libprotobuf-dev libnl-3-dev libnet1-dev libcap-dev \
  libbsd-dev libgnutls28-dev libaio-dev libnftables-dev uuid-dev python3-protobuf

mkdir -p "$cache/lists/partial" "$cache/archives/partial" "$cache/src"

# The same mirror the host uses (the first deb822 stanza's URIs, i.e. the main archive, not
# -security), with trixie's source index only.
uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1 | cut -d' ' -f1)
uri=${uri:-http://deb.debian.org/debian}
cat >"$cache/trixie-src.list" <<EOF
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main
EOF

apt_opts=(
  -o "Dir::Etc::SourceList=$cache/trixie-src.list"
  -o "Dir::Etc::SourceParts=/nonexistent"
  -o "Dir::State::Lists=$cache/lists"
  -o "Dir::Cache=$cache"
  -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
  -o "APT::Get::List-Cleanup=0"
)

tarball=$(ls "$cache"/src/criu_4.1*.orig.tar.xz 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$tarball" ]; then
  log "fetching trixie's criu source index from $uri"
  apt-get "${apt_opts[@]}" update -qq
  # --download-only fetches the orig tarball, the debian tarball and the .dsc; the orig tarball
  # is all the build uses, so a .dsc that apt refuses to verify does not stop us.
  (cd "$cache/src" && apt-get "${apt_opts[@]}" source --download-only criu) || true
  tarball=$(ls "$cache"/src/criu_4.1*.orig.tar.xz 2>/dev/null | sort -V | tail -n1 || true)
  [ -n "$tarball" ] || { log "could not download criu's source from trixie"; exit 1; }
fi

build="$cache/build"
rm -rf "$build" && mkdir -p "$build"
tar -xf "$tarball" -C "$build" --strip-components=1
log "building criu from $(basename "$tarball") (about a minute)"
# Plain `make criu`: no docs (asciidoc), no plugins, no python bindings. libprotobuf-dev is
# needed for descriptor.proto, which the tarball links to in /usr/include.
make -C "$build" -j"$(nproc)" criu >"$cache/build.log" 2>&1 || {
  tail -n 40 "$cache/build.log"; log "build failed, full log: $cache/build.log"; exit 1; }

install -D -m 0755 "$build/criu/criu" "$bin"
rm -rf "$build"
version_ok || { log "installed $bin does not report version >= 4.1"; exit 1; }
link_on_path
log "installed $("$bin" --version | head -n1 | tr -s ' ') at $bin"
