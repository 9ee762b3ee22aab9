# carousel as a containerized KRM function (kustomize `container:` / kpt).
# Build: docker build -t carousel:dev .  (without Docker: make release, docs/install.md)
# The binary is static (CGO_ENABLED=0), the same build `make build` makes.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd cmd
COPY fn fn
COPY pkg pkg
COPY internal internal
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/carousel-dev/carousel/fn.version=${VERSION} -X github.com/carousel-dev/carousel/fn.commit=${COMMIT}" -o /carousel ./cmd/carousel

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /carousel /usr/local/bin/carousel
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/carousel"]
