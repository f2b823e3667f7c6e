# cloudhsm-local as a container image: the static binary alone, run as a non-root user
# (65532), listening on 0.0.0.0:4580, state in the /data volume (SQLite by default).
#
#   make image                      # make build (CGO_ENABLED=0), then this file with podman or docker
#   docker run -p 127.0.0.1:4580:4580 -v cloudhsm-local:/data localhost/cloudhsm-local
#
# Every flag of `cloudhsm-local serve` has an environment twin (CLOUDHSM_LOCAL_STORE, …), and
# arguments after the image name replace `serve` (e.g. `version`, or `serve --store memory`).
FROM scratch

LABEL org.opencontainers.image.title="cloudhsm-local" \
      org.opencontainers.image.description="A local, wire-compatible AWS CloudHSM v2 control plane"

# A user to run as, and its two writable directories: the data volume and TMPDIR (where the
# memory store keeps its unlinked file). The .keep files that hold them in git stay out
# (.dockerignore), so both are empty.
COPY container/passwd container/group /etc/
COPY --chown=65532:65532 container/data /data
COPY --chown=65532:65532 container/tmp /tmp
COPY bin/cloudhsm-local /cloudhsm-local

USER 65532:65532
WORKDIR /data
ENV CLOUDHSM_LOCAL_ADDR=0.0.0.0:4580 \
    CLOUDHSM_LOCAL_STORE=sqlite:/data/cloudhsm-local.db
EXPOSE 4580
VOLUME /data
# The binary's own health subcommand (it reads CLOUDHSM_LOCAL_ADMIN_TOKEN in strict mode).
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 CMD ["/cloudhsm-local", "health"]
ENTRYPOINT ["/cloudhsm-local"]
CMD ["serve"]
