# syntax=docker/dockerfile:1
# Multi-stage build: compile with the Rust toolchain, run on a slim base as a
# non-root user. Rules are mounted (or baked) at /etc/payroute/rules.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The workspace's second member: the gateway simulator, which `serve
# --sandbox` runs in-process.
COPY sandbox ./sandbox
COPY benches ./benches
# The shipped rules are compiled in (`config::shipped` reads them with
# include_str!) to recognise their public test secrets.
COPY routing-rules ./routing-rules
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
# The ops port listens on all interfaces, so payroute refuses to start until
# PAYROUTE_ADMIN_TOKEN (16+ characters) is set (or mTLS is configured with
# PAYROUTE_OPS_TLS_CERT/KEY/CLIENT_CA). Every secret the rules reference
# (STRIPE_*, ADYEN_*, DEMO_WEBHOOK_SECRET for the shipped rules) must be set
# too: the shipped sandbox test secrets are refused outside `serve --sandbox`.
# TLS for the API: PAYROUTE_TLS_CERT and PAYROUTE_TLS_KEY (mounted PEM files).
ENV PAYROUTE_LISTEN=0.0.0.0:8080 \
    PAYROUTE_OPS_LISTEN=0.0.0.0:9191 \
    PAYROUTE_RULES=/etc/payroute/rules \
    PAYROUTE_STORE=sqlite:///var/lib/payroute/payroute.db \
    PAYROUTE_LOG_FORMAT=json
EXPOSE 8080 9191
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/payroute"]
CMD ["serve"]
