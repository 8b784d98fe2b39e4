# syntax=docker/dockerfile:1
# mcp-elevenlabs as a container: the static musl binary alone (its CA roots are built in), run
# as a non-root user, with its data (audio, cache, usage ledger, config) in the /data volume.
# release.yml builds it for linux/amd64 and linux/arm64 from the release's static binaries
# (dist/<arch>/mcp-elevenlabs), smoke-tests `docker run -i` and pushes it to GHCR.
#   docker run -i --rm -e ELEVENLABS_API_KEY -v mcp-elevenlabs:/data ghcr.io/mcp-elevenlabs/mcp-elevenlabs
FROM scratch

ARG TARGETARCH
COPY --chmod=0555 dist/${TARGETARCH}/mcp-elevenlabs /mcp-elevenlabs
COPY --chown=65532:65532 packaging/docker/data/ /data/

ENV HOME=/data \
    XDG_CONFIG_HOME=/data/config \
    XDG_STATE_HOME=/data/state \
    XDG_DATA_HOME=/data/share \
    XDG_CACHE_HOME=/data/cache \
    ELEVENLABS_MCP_OUTPUT_MODE=files

LABEL io.modelcontextprotocol.server.name="io.github.mcp-elevenlabs/mcp-elevenlabs" \
      org.opencontainers.image.source="https://github.com/mcp-elevenlabs/mcp-elevenlabs" \
      org.opencontainers.image.description="A small, fast MCP server that gives AI agents a voice with ElevenLabs" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"

USER 65532:65532
VOLUME ["/data"]
ENTRYPOINT ["/mcp-elevenlabs"]
