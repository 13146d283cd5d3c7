# Multi-stage build: the PWA with Node, the server with Rust, a slim Debian runtime.
FROM node:20-bookworm AS pwa
WORKDIR /src/pwa
COPY pwa/package.json pwa/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY pwa/ ./
RUN npm run build

FROM rust:1-bookworm AS server
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
COPY --from=pwa /src/pwa/dist pwa/dist
ENV FANGZHA_SKIP_PWA_BUILD=1
RUN cargo build --release --locked --bin fangzha

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /data fangzha && mkdir -p /data && chown fangzha /data
COPY --from=server /src/target/release/fangzha /usr/local/bin/fangzha
USER fangzha
ENV FANGZHA__DATA_DIR=/data FANGZHA__BIND=0.0.0.0:8080
EXPOSE 8080
CMD ["fangzha", "serve"]
