#!/usr/bin/env bash
# Fetches one Debian kernel image for the matrix and prints the path of its vmlinuz.
#   fetch-kernel.sh 5.10|6.1|6.12 CACHE_DIR
# 6.1 and 6.12 come from the system's bookworm sources. 5.10 comes from bullseye-security through
# a private apt configuration (own sources.list, state and cache dirs), so the system's sources
# and package lists are never touched. The unpacked vmlinuz is cached per package name, so a warm
# CI run downloads nothing; a new Debian point release is fetched once.
set -euo pipefail
series=$1
cache=$2
mkdir -p "$cache"

apt_private=()
case $series in
  5.10)
    pattern='^linux-image-5\.10\.0-[0-9]+-amd64-unsigned$'
    apt_dir=$cache/apt-bullseye
    mkdir -p "$apt_dir"/{state/lists/partial,cache/archives/partial,etc/preferences.d,etc/apt.conf.d}
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bullseye-security main" \
      >"$apt_dir/etc/sources.list"
    apt_private=(-o Dir::Etc::SourceList="$apt_dir/etc/sources.list"
                 -o Dir::Etc::SourceParts=/nonexistent
                 -o Dir::Etc::Preferences="$apt_dir/etc/preferences"
                 -o Dir::Etc::PreferencesParts="$apt_dir/etc/preferences.d"
                 -o Dir::State="$apt_dir/state"
                 -o Dir::State::status=/var/lib/dpkg/status
                 -o Dir::Cache="$apt_dir/cache"
                 -o APT::Architecture=amd64)
    # Refresh the private lists at most once a day.
    if [[ -z $(find "$apt_dir/state/lists" -name '*Packages*' -mtime -1 2>/dev/null) ]]; then
      apt-get "${apt_private[@]}" update -qq >&2
    fi
    ;;
  6.1) pattern='^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' ;;
  6.12) pattern='^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' ;;
  *) echo "fetch-kernel: unknown kernel series $series" >&2; exit 2 ;;
esac

pkg=$(apt-cache "${apt_private[@]}" search --names-only "$pattern" | awk '{print $1}' | sort -V | tail -1)
if [[ -z $pkg ]]; then
  # Offline with a warm cache: reuse the newest kernel already unpacked for this series.
  cached=$(find "$cache" -maxdepth 2 -path "*/linux-image-${series}[.-]*/vmlinuz" 2>/dev/null | sort -V | tail -1)
  [[ -n $cached ]] && { echo "$cached"; exit 0; }
  echo "fetch-kernel: no package matches $pattern" >&2
  exit 1
fi
dir=$cache/$pkg
if [[ ! -s $dir/vmlinuz ]]; then
  tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get "${apt_private[@]}" -o APT::Sandbox::User=root download -qq "$pkg" >&2)
  dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*' './boot/config-*'
  mkdir -p "$dir"
  # Two boots of one series (6.12 and 6.12-noia32) may fetch at once: each renames its own
  # copy into place, atomically (tmp is on the cache's filesystem).
  mv -f "$tmp"/boot/config-* "$dir/config"
  mv -f "$tmp"/boot/vmlinuz-* "$dir/vmlinuz"
fi
echo "$dir/vmlinuz"
