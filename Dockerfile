# syntax=docker/dockerfile:1
# Multi-stage build: compile with the Rust toolchain, run on a slim base as a
# non-root user. Rules are mounted (or baked) at /etc/payroute/rules.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin payroute

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/payroute --create-home payroute
COPY --from=build /src/target/release/payroute /usr/local/bin/payroute
COPY routing-rules /etc/payroute/rules
USER 10001:10001
WORKDIR /var/lib/payroute
ENV PAYROUTE_LISTEN=0.0.0.0:8080 \
    PAYROUTE_OPS_LISTEN=0.0.0.0:9191 \
    PAYROUTE_RULES=/etc/payroute/rules \
    PAYROUTE_STORE=sqlite:///var/lib/payroute/payroute.db \
    PAYROUTE_LOG_FORMAT=json
EXPOSE 8080 9191
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/payroute"]
CMD ["serve"]
