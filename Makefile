# Credentials Portal. `make run` and `make test` install dependencies only when
# package-lock.json changed (better-sqlite3 compiles from source: ~1.5 minutes).
SHELL := /bin/bash
NODE_TEST := node --import tsx --test --test-concurrency=2
export PORTAL_ENV ?= sandbox

.PHONY: install run test test-fast typecheck bench profile migrations clean binary drill soak

node_modules/.installed: package-lock.json package.json
	npm ci --no-audit --no-fund
	node -e "require('better-sqlite3')(':memory:').close()"
	touch $@

install: node_modules/.installed

run: install
	npx tsx server/main.ts

typecheck: install
	npx tsc --noEmit --incremental --tsBuildInfoFile node_modules/.cache/tsbuildinfo

# Browser tests need Debian's Chromium at /usr/bin/chromium (.ci/run installs it); they fail, never skip, without it.
test: typecheck binary
	$(NODE_TEST) $$(find test -name '*.test.ts' | sort)

# Leaves out the browser, the single executable and the fault drills (an 8-second lock).
# Four processes that each run their share of the files (test/fast.ts): a process per file
# spent more CPU starting than testing.
test-fast: typecheck
	node --import tsx test/fast.ts

migrations: install
	npx drizzle-kit generate --config db/drizzle.config.ts

clean:
	rm -rf node_modules dist test-output

# The token endpoint (token-bench.ts), the pages people wait for (pages-bench.ts), and one
# tenant's costliest keys beside another tenant's tokens (tenant-bench.ts).
bench: install binary
	node --import tsx test/bench/token-bench.ts
	node --import tsx test/bench/pages-bench.ts
	node --import tsx test/bench/tenant-bench.ts

# Proof under fire (README, "Faults we survive"), not part of `make test`: minutes each.
# kill -9 at DRILL_ROUNDS (100) random moments under mixed load, checking the data after each restart.
drill: install
	node --import tsx test/bench/drill.ts

# SOAK_MINUTES (10) at 1,000 requests a second: errors, RSS, p99 and the bounded structures' sizes.
soak: install
	node --import tsx test/bench/soak.ts

# The token endpoint under load with node --cpu-prof; PROFILE=success|wrong|pkjwt.
profile: install
	node --import tsx test/bench/profile.ts $(or $(PROFILE),success)

# One executable file for internal hosting (Node's single executable applications; build with Node 20.12 or later).
binary: dist/credentials-portal

dist/credentials-portal: node_modules/.installed build/binary.ts $(shell find server db views public -type f 2>/dev/null)
	node --import tsx build/binary.ts
