# Outpost node image. Build for another architecture with
#   docker build --build-arg GOARCH=arm64 -t outpost:arm64 .
# The result is a static binary on a distroless-style scratch image, run as
# an unprivileged user, serving on 8080 with its data in /data.
FROM golang:1.26 AS build
ARG GOARCH=amd64
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux GOARCH=${GOARCH} go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/outpost ./cmd/outpost \
 && mkdir -p /out/data

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build /out/outpost /usr/local/bin/outpost
USER 65532:65532
ENV OSO_PORT=8080 OSO_DIRECTORY=/data
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/outpost", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/outpost"]
