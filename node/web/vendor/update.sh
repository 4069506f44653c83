#!/bin/sh
# Fetches the vendored web libraries again from npm, at the pinned versions.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent leaflet@1.9.4 leaflet.markercluster@1.5.3 >/dev/null
sha256sum ./*.tgz
mkdir leaflet markercluster
tar xzf leaflet-1.9.4.tgz -C leaflet
tar xzf leaflet.markercluster-1.5.3.tgz -C markercluster
mkdir -p "$here/leaflet/images" "$here/leaflet.markercluster"
cp leaflet/package/dist/leaflet.js leaflet/package/dist/leaflet.css leaflet/package/LICENSE "$here/leaflet/"
cp leaflet/package/dist/images/*.png "$here/leaflet/images/"
cp markercluster/package/dist/leaflet.markercluster.js \
   markercluster/package/dist/MarkerCluster.css \
   markercluster/package/dist/MarkerCluster.Default.css \
   markercluster/package/MIT-LICENCE.txt "$here/leaflet.markercluster/"
