# syntax=docker/dockerfile:1
#
# quizroom: a small runtime image with the server binary, the seed banks and
# a data volume for the results database.
#
#   docker build -t quizroom .
#   docker run -p 8080:8080 -v quizroom-data:/data quizroom
#
# Configuration is by environment (QUIZROOM_*, see docs/operations.md).

ARG RUST_VERSION=1.95

# --- build ------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src

# 1. Dependencies only: the manifests with empty sources. This layer is
#    rebuilt only when a Cargo.toml or Cargo.lock changes, not on every edit.
COPY Cargo.toml Cargo.lock ./
COPY server/Cargo.toml server/Cargo.toml
COPY bench/Cargo.toml bench/Cargo.toml
RUN set -eu; \
    for manifest in Cargo.toml server/Cargo.toml bench/Cargo.toml; do \
        dir=$(dirname "$manifest"); \
        for rel in $(sed -n 's/^path *= *"\([^"]*\.rs\)".*/\1/p' "$manifest"); do \
            mkdir -p "$(dirname "$dir/$rel")"; \
            : > "$dir/$rel"; \
        done; \
    done; \
    mkdir -p server/src bench/src web; \
    echo 'fn main() {}' > server/src/main.rs; \
    : > server/src/lib.rs; \
    echo 'fn main() {}' > bench/src/main.rs; \
    cargo build --release --locked -p quizroom --bin quizroom; \
    rm -rf server/src bench/src target/release/.fingerprint/quizroom-*

# 2. The real sources (web/ is embedded into the binary at compile time).
COPY server server
COPY bench bench
COPY web web
RUN cargo build --release --locked -p quizroom --bin quizroom \
 && mkdir -p /out/data \
 && cp target/release/quizroom /out/quizroom

# --- runtime ----------------------------------------------------------------
# distroless/cc: glibc and libgcc only, no shell, runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
WORKDIR /app
COPY --from=build /out/quizroom /app/quizroom
COPY seeds /app/seeds
# The data dir must exist and belong to the non-root user before the volume
# is mounted, so a fresh named volume starts out writable.
COPY --from=build --chown=65532:65532 /out/data /data

ENV QUIZROOM_ADDR=0.0.0.0:8080 \
    QUIZROOM_SEEDS=/app/seeds \
    QUIZROOM_DATA_DIR=/data \
    QUIZROOM_RETENTION_HOURS=24 \
    QUIZROOM_LOG_FORMAT=json \
    QUIZROOM_LOG=info

USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080
# No curl in the image: the binary probes its own /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/app/quizroom", "healthcheck"]
# SIGTERM (docker stop) makes the server stop accepting, persist and close
# sockets with 1012; give it the 10 s it needs: docker stop -t 15.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/quizroom"]
