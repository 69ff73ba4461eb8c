# Alertmanager from Debian's package, for running the lab (../docker-compose.yml)
# where no container registry can be reached: see compose.override.yml.
# Same interface as prom/alertmanager: the binary is the entrypoint, runs as
# nobody, /alertmanager is its data directory.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus-alertmanager \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /alertmanager \
 && chown nobody:nogroup /alertmanager
USER nobody
WORKDIR /alertmanager
EXPOSE 9093
ENTRYPOINT ["/usr/bin/prometheus-alertmanager"]
CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]
