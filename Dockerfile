# syntax=docker/dockerfile:1
# The badbatch image: a static binary on distroless/static, run as the
# distroless nonroot user (65532). Build it from the repository's root:
#
#   docker build -t badbatch:dev --build-arg VERSION=v0.1.0 .
#
# deploy/helm/badbatch runs it as a three-node replicated cluster.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a change of source keeps their layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=""
# CGO_ENABLED=0: a static binary, nothing to load from the image. The
# same command is DockerfileBuild in deploy/deploy_test.go.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath \
      -ldflags "-s -w -X github.com/badbatch/badbatch/internal/version.Version=${VERSION}" \
      -o /out/badbatch ./cmd/badbatch
# The data directory, owned by the nonroot user, for an image run without
# a volume.
RUN mkdir -p /out/data && chown 65532:65532 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/badbatch /usr/local/bin/badbatch
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
# REST API and console, gossip (TCP and UDP), Raft.
EXPOSE 8080 7946/tcp 7946/udp 7947
ENTRYPOINT ["/usr/local/bin/badbatch"]
# A container listens on every interface, so the server wants API keys
# (security.api_keys or BADBATCH_SECURITY_API_KEYS) or --insecure.
CMD ["server", "--bind", "0.0.0.0:8080"]
