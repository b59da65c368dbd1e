# csc: a static binary on distroless, run as a non-root user.
#
#   docker build -t csc .            (or: docker compose build)
#   docker run -p 8080:8080 -v csc-data:/data csc
#
# The default build is pure Go (modernc.org/sqlite), so CGO_ENABLED=0 gives a static binary that needs no libc.
# deploy/check.sh runs the same go build command on the same files (those .dockerignore lets through).

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /out/csc ./cmd/csc
# The data folder, owned by the runtime user: a named volume mounted on /data starts as a copy of it, so csc can
# write its store and tokens.json there.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/csc /csc
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV CSC_ADDR=:8080 \
    CSC_DATA=/data
EXPOSE 8080
ENTRYPOINT ["/csc"]
CMD ["serve"]
