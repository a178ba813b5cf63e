#!/usr/bin/env bash
# Builds what a release publishes, for one version (make release VERSION=x.y.z):
#   <dir>/helm/secrets-store-csi-driver-<version>.tgz, secrets-store-csi-driver-provider-aws-<version>.tgz
#     and secrets-store-sync-controller-<version>.tgz,
#   <dir>/helm/index.yaml (a Helm chart repository: serve the folder over HTTP and `helm repo add` it),
#   <dir>/aws-provider-installer.yaml (the installer for `kubectl apply -f`, images at <version>);
# and it names the program images the charts run at <version>, to push with them: those that
# `IMAGE_TAG=<version> make images` builds (scripts/build-images.sh names).
# <dir> is dist/ (git-ignored), or RELEASE_DIR. The charts' version and appVersion (hence the image
# tags) become <version>; RELEASE_URL, when set, makes the index's chart URLs absolute.
# Uses the lab's pinned helm, like the installer; HELM=<path> overrides it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${1:-}
out=${RELEASE_DIR:-$repo/dist}
charts=(secrets-store-csi-driver secrets-store-csi-driver-provider-aws secrets-store-sync-controller)

# Helm's own rule for chart versions (SemVer 2), without the leading v Helm would keep in file names.
semver='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$'
if ! [[ $version =~ $semver ]]; then
  echo "release: the version must be a semantic version such as 1.2.3, got '${version}': make release VERSION=1.2.3" >&2
  exit 2
fi

if [ -z "${HELM:-}" ]; then
  "$repo/e2e/lab/build.sh" helm
  HELM=$("$repo/e2e/lab/build.sh" path helm)
fi

# The sync controller's chart ships the driver's SecretProviderClass CRD (Helm installs CRDs only
# from a chart's own crds/ folder): the two copies must be the same file.
spc_crd=crds/secrets-store.csi.x-k8s.io_secretproviderclasses.yaml
if ! cmp -s "$repo/charts/secrets-store-csi-driver/$spc_crd" "$repo/charts/secrets-store-sync-controller/$spc_crd"; then
  echo "release: charts/secrets-store-sync-controller/$spc_crd differs from the driver chart's copy: copy it over" >&2
  exit 1
fi

# A fresh folder: an index must list only this release's charts.
rm -rf "$out/helm" "$out/helm.tmp" "$out/charts.tmp"
mkdir -p "$out/helm.tmp" "$out/charts.tmp"
for chart in "${charts[@]}"; do
  # Packaged from a copy, whose example values name the AWS provider image of this release.
  cp -R "$repo/charts/$chart" "$out/charts.tmp/$chart"
  if [ -d "$out/charts.tmp/$chart/examples" ]; then
    find "$out/charts.tmp/$chart/examples" -name '*.yaml' -exec \
      sed -i -E "s#(/secrets-store-csi-driver-provider-aws):[^[:space:]\"']+#\\1:$version#" {} +
  fi
  "$HELM" lint "$out/charts.tmp/$chart" --quiet >/dev/null
  "$HELM" package "$out/charts.tmp/$chart" --version "$version" --app-version "$version" \
    --destination "$out/helm.tmp" >/dev/null
done
rm -rf "$out/charts.tmp"
"$HELM" repo index "$out/helm.tmp" ${RELEASE_URL:+--url "$RELEASE_URL"}
mv "$out/helm.tmp" "$out/helm"

# The installer from the packaged provider chart, so its images carry the release's version.
CHART="$out/helm/secrets-store-csi-driver-provider-aws-$version.tgz" HELM=$HELM \
  "$repo/scripts/render-aws-provider-installer.sh" "$out/aws-provider-installer.yaml"

echo "release $version:"
(cd "$out" && ls -1 helm/* aws-provider-installer.yaml | sed 's/^/  /')
# The charts name the images under their default registry, whatever IMAGE_REGISTRY says here.
echo "images the charts run (IMAGE_TAG=$version make images builds them; push them too):"
IMAGE_REGISTRY='' IMAGE_TAG=$version "$repo/scripts/build-images.sh" names | sed 's/^/  /'
