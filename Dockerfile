# The Avatar API image: one static binary (every mode: serve, worker,
# worker --runpod, the operator commands) on Debian with ffmpeg.
#
# The binary is built on the host first (make build: bin/avatar-api,
# CGO_ENABLED=0, with VERSION and GIT_SHA linked in) and copied in. There
# is no Go builder stage on purpose: where this image is built and tested
# (CI, scripts/image-smoke) a build cannot download a Go toolchain, and the
# binary the tests ran is the one shipped.
#
#   make build && docker build --build-arg VERSION=… --build-arg GIT_SHA=… -t avatar-api .
#   docker run -p 8080:8080 -v avatar-data:/data avatar-api            # serve
#   docker run avatar-api worker                                       # workers only
#   docker run avatar-api worker --runpod                              # RunPod serverless
#
# scripts/image-smoke builds it with buildah and smoke-tests it;
# scripts/check-deploy.sh lints it with BuildKit's rules.

FROM debian:bookworm-slim

# ffmpeg reads the audio and encodes the video (ffprobe comes with it);
# ca-certificates for S3, RunPod, webhooks and SMTP over TLS.
RUN apt-get update \
	&& apt-get install -y --no-install-recommends ffmpeg ca-certificates \
	&& apt-get clean \
	&& rm -rf /var/lib/apt/lists/*

# A fixed uid/gid, so that volumes and secrets can be owned ahead of time.
RUN groupadd --system --gid 10001 avatar \
	&& useradd --system --uid 10001 --gid avatar --home-dir /data --no-create-home --shell /usr/sbin/nologin avatar \
	&& install -d -o avatar -g avatar -m 0750 /data

COPY bin/avatar-api /usr/local/bin/avatar-api

# Declared here, not at the top: a new version must not void the cached
# steps above it.
ARG VERSION=dev
ARG GIT_SHA=unknown

LABEL org.opencontainers.image.title="avatar-api" \
	org.opencontainers.image.description="Avatar API: a portrait and speech in, a talking-avatar MP4 out" \
	org.opencontainers.image.source="https://github.com/avatar-api/avatar-api" \
	org.opencontainers.image.licenses="LicenseRef-Proprietary" \
	org.opencontainers.image.version="${VERSION}" \
	org.opencontainers.image.revision="${GIT_SHA}"

# DATA_DIR holds the SQLite database, local videos and the generated
# signing secret when no PostgreSQL or S3 is configured: keep it on a volume.
# (`avatar-api version` prints the version and commit linked in.)
ENV DATA_DIR=/data
VOLUME ["/data"]
WORKDIR /data
USER avatar:avatar

# 8080: the API (PORT). 9091: a worker's /health and /metrics when
# WORKER_METRICS_ADDR=:9091.
EXPOSE 8080 9091

# The API's /health (PORT). For a worker, override the check with
# `avatar-api health --url http://127.0.0.1:9091/health` (deploy/compose.yaml
# does); RunPod ignores it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
	CMD ["avatar-api", "health"]

# SIGTERM lets running jobs finish within SHUTDOWN_GRACE; give the runtime
# a stop timeout above it (docker run --stop-timeout, compose stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["avatar-api"]
CMD ["serve"]
