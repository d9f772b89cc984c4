# syntax=docker/dockerfile:1
# The Capstan update server (and the `capstan` CLI) as a container image:
#   docker build -t capstan-server .
#   docker run -d -p 127.0.0.1:8080:8080 -v capstan-data:/var/lib/capstan capstan-server
#   docker exec <container> capstan-server token create --role admin --name me
# Compose files for the embedded default and for PostgreSQL + S3: packaging/docker/.
#
# UNTESTED: the machines this project is built and tested on cannot run Docker, so neither this
# file nor the compose files have been built or started. The Debian package (make dist) runs the
# same binaries and is tested for real (scripts/check-packages.sh).

# Build: the same toolchain the project uses (Rust 1.95), only the two server-side binaries.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p capstan-server -p capstan-cli \
    && install -m 0755 target/release/capstan-server target/release/capstan /usr/local/bin/

# Run: a small Debian with CA certificates (PostgreSQL and S3 over TLS) and curl for the
# health check. glibc, like the build stage, so the binaries run unchanged.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --user-group --uid 10001 --home-dir /var/lib/capstan --no-create-home \
        --shell /usr/sbin/nologin capstan \
    && install -d -o capstan -g capstan -m 0750 /var/lib/capstan
COPY --from=build /usr/local/bin/capstan-server /usr/local/bin/capstan /usr/local/bin/

# Settings come from CAPSTAN_* variables (see crates/capstan-server/README.md); a TOML file can be
# mounted and named with CAPSTAN_CONFIG. Listen on every interface of the container: publish the
# port on loopback and put an HTTPS proxy in front (docs/https.md), and set CAPSTAN_PUBLIC_URL.
ENV CAPSTAN_DATA_DIR=/var/lib/capstan \
    CAPSTAN_LISTEN=0.0.0.0:8080
# The SQLite database and the bundles (embedded default); unused with PostgreSQL + S3.
VOLUME ["/var/lib/capstan"]
EXPOSE 8080
USER capstan
WORKDIR /var/lib/capstan
# The health check asks the port above: change both together.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
# SIGTERM (docker stop) lets requests finish and flushes buffered writes; give it time.
STOPSIGNAL SIGTERM
ENTRYPOINT ["capstan-server"]
CMD ["serve"]
