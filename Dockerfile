# kiot on Node 20. The build stage compiles the TypeScript (npm ci runs `prepare`; nothing
# native is compiled); the runtime stage has only the production dependencies and dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY core core
COPY rules rules
COPY actions actions
COPY ingest ingest
COPY shadow shadow
COPY registry registry
COPY jobs jobs
COPY provisioning provisioning
COPY api api
COPY cli cli
COPY benchmarks benchmarks
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
RUN mkdir -p /data /rules && chown node:node /data /rules
# `kiot` on the PATH for `docker compose exec kiot kiot ...`; its HTTPS calls to this kiot trust
# the kiot CA of the data dir (<data-dir>/ca.pem, written on first start) when it exists.
RUN printf '%s\n' '#!/bin/sh' \
      'ca="${KIOT_DATA_DIR:-/data}/ca.pem"' \
      'if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$ca" ]; then export NODE_EXTRA_CA_CERTS="$ca"; fi' \
      'exec node --max-semi-space-size=32 /app/dist/cli/main.js "$@"' > /usr/local/bin/kiot \
    && chmod 755 /usr/local/bin/kiot
USER node
# Listeners: HTTP API 8080, MQTT 1883, MQTT over TLS 8883, MQTT over WebSocket 8083, device HTTPS publish 8443.
EXPOSE 8080 1883 8883 8083 8443
ENV KIOT_DATA_DIR=/data KIOT_RULES_DIR=/rules KIOT_HOST=0.0.0.0
ENTRYPOINT ["node", "--max-semi-space-size=32", "dist/cli/main.js"]
CMD ["up"]
