# cloudhsm-local — the commands the README promises.
GO ?= go

.PHONY: run test test-go test-fuzz test-compat generate build image

## run: serve on 127.0.0.1:4580 with state in ./cloudhsm-local.db
run:
	$(GO) run ./cmd/cloudhsm-local

## build: a static binary in bin/ (stamped with the commit when built in a git clone)
build:
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o bin/cloudhsm-local ./cmd/cloudhsm-local

## image: the container image of the Dockerfile, from bin/cloudhsm-local, with podman (or docker)
IMAGE ?= localhost/cloudhsm-local:latest
image: build
	@if command -v podman >/dev/null; then \
		echo "podman build --format docker --layers=false -t $(IMAGE) ."; podman build --format docker --layers=false -t $(IMAGE) .; \
	elif command -v docker >/dev/null; then \
		echo "docker build -t $(IMAGE) ."; docker build -t $(IMAGE) .; \
	else \
		echo "make image needs podman or docker (Debian: apt-get install podman)"; exit 1; \
	fi

## test: everything CI runs — formatting, vet, Go tests under the race detector, a short run of
## every fuzz target, boto3/AWS CLI suite
test: test-go test-fuzz test-compat

test-go:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@check=$$(mktemp --suffix=.go) && trap 'rm -f "$$check"' EXIT && \
		$(GO) run ./internal/api/gen -model spec/cloudhsmv2.smithy.json -out "$$check" && \
		cmp -s "$$check" internal/api/zz_shapes.go || { echo "internal/api is stale: run make generate"; exit 1; }
	$(GO) test -race -count=1 ./...

## test-fuzz: run every Fuzz target for FUZZTIME (make test-fuzz FUZZTIME=5m for a longer hunt). The
## default is a count of executions, not a duration: with a duration, Go 1.26's fuzz coordinator can
## report "context deadline exceeded" when the time runs out under load (golang/go#75804, fixed in
## Go 1.27), a failure with no failing input;
## a failing input is saved under the package's testdata/fuzz/ and replays in every go test
FUZZTIME ?= 100000x
test-fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$(dirname $$f) $$fn for $(FUZZTIME)"; \
			out=$$($(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$(dirname $$f) 2>&1) || { echo "$$out"; exit 1; }; \
			echo "$$out" | grep 'execs:' | tail -1; \
		done; \
	done

test-compat:
	bash compat/run.sh

## generate: regenerate internal/api from spec/cloudhsmv2.smithy.json
generate:
	$(GO) generate ./internal/api
