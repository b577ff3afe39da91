# Stand-in for the official rabbitmq image (which cannot be pulled here), from Debian's
# RabbitMQ 3.10. Honours RABBITMQ_DEFAULT_USER and RABBITMQ_DEFAULT_PASS (no `guest` is made when
# they are set) and runs the broker as the rabbitmq user, in the foreground.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends rabbitmq-server \
    && rm -rf /var/lib/apt/lists/*
COPY rabbitmq-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV LANG=C.UTF-8 RABBITMQ_ADVANCED_CONFIG_FILE=/var/lib/rabbitmq/advanced.config
VOLUME /var/lib/rabbitmq
EXPOSE 5672
ENTRYPOINT ["docker-entrypoint.sh"]
# Not Debian's /usr/sbin/rabbitmq-server wrapper: it ignores SIGTERM.
CMD ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
