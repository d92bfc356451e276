# An image of your own that bakes your desired state into driftd's image, so
# that a deployment pins the code and the YAML together. Build it from the
# repository that holds your desired-state directory:
#   docker build -f desired-state.Dockerfile --build-arg DRIFTD_IMAGE=<registry>/driftd:0.1.0 -t <registry>/driftd-platform:2026-11-22 .
# The files are owned by root and read-only for driftd, which never writes them.

# No default: say which driftd image (and version) you build on.
ARG DRIFTD_IMAGE
FROM ${DRIFTD_IMAGE}
COPY desired-state/ /etc/driftd/desired-state/
