# Prometheus from Debian's package, for running the lab (../docker-compose.yml)
# where no container registry can be reached: see compose.override.yml.
# Same interface as prom/prometheus: the binary is the entrypoint, runs as
# nobody, /prometheus is its data directory.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /prometheus \
 && chown nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
