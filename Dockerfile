# Outpost node image: a static binary on an empty (scratch) image, run as
# an unprivileged user (65532), serving on 8080 with its data in /data.
#
# The default target, runtime, needs no base image at all: it copies the
# static binaries `make image` builds (bin/linux-$TARGETARCH/) and the CA
# bundle and empty data directory of bin/image/. Build it with
#   make image                     # linux/amd64 and linux/arm64
# or, after make image-context, for one architecture:
#   podman build --platform linux/arm64 -t outpost:arm64 .
#
# Without make, the from-source target compiles in the Go image:
#   docker build --target from-source --platform linux/arm64 \
#     --build-arg VERSION=$(git describe --tags --always) -t outpost:arm64 .

# ---- compile from source (target from-source only) ----
FROM --platform=$BUILDPLATFORM docker.io/library/golang:1.26-bookworm AS build
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux GOARCH=${TARGETARCH} go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/bin/linux-${TARGETARCH}/ ./cmd/outpost \
 && mkdir -p /out/bin/image/data \
 && cp /etc/ssl/certs/ca-certificates.crt /out/bin/image/

FROM scratch AS from-source
ARG TARGETARCH
COPY --from=build /out/bin/image/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build --chown=65532:65532 /out/bin/image/data /data
COPY --from=build /out/bin/linux-${TARGETARCH}/outpost /usr/local/bin/outpost
USER 65532:65532
ENV OSO_PORT=8080 OSO_DIRECTORY=/data
VOLUME /data
EXPOSE 8080
# `outpost healthcheck` asks the address the node serves on: it reads the
# node's flags and environment (PID 1), so --port, --listen, OSO_PORT and
# OUTPOST_LISTEN are all honoured.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/outpost", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/outpost"]

# ---- runtime from prebuilt static binaries (the default target) ----
FROM scratch AS runtime
ARG TARGETARCH
COPY bin/image/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --chown=65532:65532 bin/image/data /data
COPY bin/linux-${TARGETARCH}/outpost /usr/local/bin/outpost
USER 65532:65532
ENV OSO_PORT=8080 OSO_DIRECTORY=/data
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/outpost", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/outpost"]
