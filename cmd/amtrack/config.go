package main

import (
	"runtime/debug"
	"strings"
)

// Config is amtrack's configuration from the environment, read once by
// main (loadConfig) and passed to Run; the flags take their defaults from
// it. The zero Config is an empty environment: every default applies.
type Config struct {
	// DB is $AMTRACK_DB, the --db default ("": amtrack.db).
	DB string
	// Addr is $AMTRACK_ADDR, serve's --addr default ("": 127.0.0.1:8080).
	Addr string
	// APIToken is $AMTRACK_API_TOKEN without surrounding blanks: the bearer
	// token serve and demo require ("": none).
	APIToken string
	// RevealCodes is $AMTRACK_REVEAL_CODES=1, the --reveal-codes default.
	RevealCodes bool
	// LogLevel is $AMTRACK_LOG_LEVEL, the --log-level default ("": info).
	LogLevel string
	// WebhookSecret is $SEAM_WEBHOOK_SECRET without surrounding blanks.
	WebhookSecret string
	// SeamAPIKey is $SEAM_API_KEY without surrounding blanks.
	SeamAPIKey string
	// SeamEndpoint is $SEAM_ENDPOINT without surrounding blanks, the
	// --endpoint default ("": Seam's public API).
	SeamEndpoint string
	// MemoryLimitSet is whether $GOMEMLIMIT is set: then rebuild and ingest leave the
	// runtime's soft memory limit as the user set it.
	MemoryLimitSet bool
	// GCPercentSet is whether $GOGC is set: then rebuild and serve leave the
	// collector's percent as the user set it.
	GCPercentSet bool
	// TempDir is where demo makes its temporary database ("": $TMPDIR or
	// the system's default).
	TempDir string
	// KeyFile is $AMTRACK_KEY_FILE: the path of the key file whose key
	// seals the codes ("": the database's path with ".key" appended).
	KeyFile string
	// Key is $AMTRACK_KEY without surrounding blanks: the key itself, in
	// base64; it wins over KeyFile.
	Key string
}

// loadConfig reads the configuration from the environment through getenv
// (os.Getenv in main): the one place amtrack reads it.
func loadConfig(getenv func(string) string) Config {
	get := getenv
	return Config{
		DB:             get("AMTRACK_DB"),
		Addr:           get("AMTRACK_ADDR"),
		APIToken:       strings.TrimSpace(get("AMTRACK_API_TOKEN")),
		RevealCodes:    get("AMTRACK_REVEAL_CODES") == "1",
		LogLevel:       get("AMTRACK_LOG_LEVEL"),
		WebhookSecret:  strings.TrimSpace(get("SEAM_WEBHOOK_SECRET")),
		SeamAPIKey:     strings.TrimSpace(get("SEAM_API_KEY")),
		SeamEndpoint:   strings.TrimSpace(get("SEAM_ENDPOINT")),
		MemoryLimitSet: get("GOMEMLIMIT") != "",
		GCPercentSet:   get("GOGC") != "",
		TempDir:        get("TMPDIR"),
		KeyFile:        get("AMTRACK_KEY_FILE"),
		Key:            strings.TrimSpace(get("AMTRACK_KEY")),
	}
}

// gcPercent is the collector's percent for rebuild and serve (Go's default
// is 100). Both allocate fast with little live: a rebuild's heap is bounded
// by its soft memory limit, and serve's live heap is its caches, a few
// megabytes. Collecting less often cost a 200k-event rebuild about 5 %
// less CPU and serve about 10 % less CPU per GET (docs/performance.md).
const gcPercent = 400

// tuneGC sets the runtime's soft memory limit to limit (0: none) and its
// collector's percent to gcPercent, each unless the user set it
// ($GOMEMLIMIT, $GOGC).
func (c Config) tuneGC(limit int64) {
	if limit > 0 && !c.MemoryLimitSet {
		debug.SetMemoryLimit(limit)
	}
	if !c.GCPercentSet {
		debug.SetGCPercent(gcPercent)
	}
}
