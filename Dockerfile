# car_server: built in the official Rust image, run on a distroless base as a
# non-root user.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/car_server /usr/local/bin/car_server
# 65532 is distroless's "nonroot" user, by number so that Kubernetes can verify it.
USER 65532:65532
ENV BIND=0.0.0.0 PORT=3000
EXPOSE 3000
# The runtime image has no curl: the binary probes its own /healthz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/car_server", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/car_server"]
