# mqtt — build, test and release tasks. `make run` starts the broker, `make test` runs everything CI runs.

GO        ?= go
PREFIX    ?= /usr/local
DESTDIR   ?=
BINDIR    := $(DESTDIR)$(PREFIX)/bin
MANDIR    := $(DESTDIR)$(PREFIX)/share/man/man1
MAN5DIR   := $(DESTDIR)$(PREFIX)/share/man/man5
FUZZTIME  ?= 10m

PKG       := github.com/mqttkit/mqtt
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE      ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS   := -X $(PKG)/internal/cli.version=$(VERSION) -X $(PKG)/internal/cli.commit=$(COMMIT) -X $(PKG)/internal/cli.date=$(DATE)

LINKS     := mosquitto mosquitto_pub mosquitto_sub mosquitto_passwd

.PHONY: all build run test bench gen fuzz install install-links uninstall clean release-check snapshot

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/mqtt ./cmd/mqtt

run: build
	./bin/mqtt serve -v

# gofmt and vet first: cheap, and they explain failures better than a test would.
test:
	@unformatted="$$(gofmt -l .)"; if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	# The packages build where the event loop does not exist (the goroutine path there).
	GOOS=darwin $(GO) build ./...
	GOOS=windows $(GO) build ./...
	$(GO) test -race -timeout 15m ./...
	# The broker suite again on the goroutine-per-connection path (websockets, and every
	# connection off Linux, use it) and with a MemoryStore, so every test also drives the
	# persistence path; again over TLS (the event loop's TLS connections); and again with
	# every quiet read handled on the event loop's own goroutine (readInline), as thin
	# traffic is.
	BROKER_TEST_BLOCKING=1 BROKER_TEST_STORE=1 $(GO) test -race -timeout 10m ./mqtt/broker
	BROKER_TEST_TLS=1 $(GO) test -race -timeout 10m ./mqtt/broker
	BROKER_TEST_INLINE=1 $(GO) test -race -timeout 10m ./mqtt/broker
	# The MQTT-SN gateway suite again with the gateway attached to the broker in-process.
	SN_TEST_UPSTREAM=broker $(GO) test -race -timeout 5m ./mqtt/sn

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

# Completions and man pages come from the command definitions in internal/cli.
gen:
	$(GO) run ./internal/cli/gen -out .

# Runs every fuzz target for FUZZTIME each (go test -fuzz takes one target at a time).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		targets="$$($(GO) test -list '^Fuzz' $$pkg)"; \
		for target in $$(echo "$$targets" | grep '^Fuzz'); do \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) $$pkg; \
		done; \
	done

install: build
	install -d $(BINDIR) $(MANDIR) $(MAN5DIR) \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0755 bin/mqtt $(BINDIR)/mqtt
	install -m 0644 man/*.1 $(MANDIR)/
	install -m 0644 man/*.5 $(MAN5DIR)/
	install -m 0644 completions/mqtt.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/mqtt
	install -m 0644 completions/_mqtt $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_mqtt
	install -m 0644 completions/mqtt.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/mqtt.fish

# Optional: links that make mqtt act as Mosquitto's tools. They shadow a real Mosquitto in PATH order.
install-links: install
	for l in $(LINKS); do ln -sf mqtt $(BINDIR)/$$l; done

uninstall:
	rm -f $(BINDIR)/mqtt $(addprefix $(MANDIR)/,$(notdir $(wildcard man/*.1))) $(addprefix $(MAN5DIR)/,$(notdir $(wildcard man/*.5)))
	for l in $(LINKS); do [ -L $(BINDIR)/$$l ] && rm -f $(BINDIR)/$$l || true; done
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/mqtt \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_mqtt \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/mqtt.fish

# Release: validate .goreleaser.yaml (installs goreleaser when missing), or build every archive
# and package locally into dist/ without publishing anything.
release-check:
	scripts/goreleaser-check.sh

snapshot:
	scripts/goreleaser-check.sh --install
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" goreleaser release --snapshot --clean --skip=publish

clean:
	rm -rf bin dist
