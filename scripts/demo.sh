#!/usr/bin/env bash
# Installs everything, builds a busybox bundle, runs a real container through berth, and
# prints its event history from the log.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null

work=${BERTH_DEMO_DIR:-/var/tmp/berth-demo}
root=$work/root
bundle=$work/bundle
rm -rf "$bundle" && mkdir -p "$bundle/rootfs/bin" "$root"
for d in dev proc sys tmp etc; do mkdir -p "$bundle/rootfs/$d"; done
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for a in sh echo hostname cat ls sleep id uname; do ln -sf busybox "$bundle/rootfs/bin/$a"; done

cd "$bundle"
berth --root "$root" spec
# The default spec runs `sh`; the demo runs a short script instead.
node -e '
const f = "config.json"; const c = JSON.parse(require("fs").readFileSync(f, "utf8"));
c.process.args = ["sh", "-c", "echo hello from $(hostname), pid $$, uid $(id -u); ls /; exit 7"];
require("fs").writeFileSync(f, JSON.stringify(c, null, 2));'

id=demo-$$
echo "+ berth run --bundle $bundle $id"
set +e
berth --root "$root" run --keep --bundle "$bundle" "$id"
status=$?
set -e
echo "(exit status $status)"
echo "+ berth history $id"
berth --root "$root" history "$id"
berth --root "$root" delete "$id"
echo "+ berth history $id   (after delete: the log keeps everything)"
berth --root "$root" history "$id"
