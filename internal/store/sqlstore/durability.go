package sqlstore

import (
	"fmt"
	"strings"
)

// Durability says what an acknowledged write survives. Every Update is acknowledged only after
// its commit, whatever the durability; it decides whether that commit waits for the disk.
type Durability string

const (
	// DurabilityProcess, the default: an acknowledged write survives the server process
	// crashing or being killed; an operating-system crash or a power loss may lose the writes
	// of the last moments (never corrupting the store). A SQLite file runs with
	// synchronous=NORMAL in WAL mode (the WAL is synced at checkpoints); PostgreSQL sessions set
	// synchronous_commit=off. The memory store has only this durability.
	DurabilityProcess Durability = "process"
	// DurabilityFsync: an acknowledged write is on disk before it is acknowledged, so it also
	// survives an operating-system crash or a power loss. A SQLite file runs with
	// synchronous=FULL (the WAL is synced at every commit); PostgreSQL sessions set
	// synchronous_commit=on. Concurrent Updates share one commit, so one fsync covers many.
	DurabilityFsync Durability = "fsync"
)

// Durabilities lists the valid values, for flag help.
func Durabilities() []Durability { return []Durability{DurabilityProcess, DurabilityFsync} }

// ParseDurability reads a Durability by name.
func ParseDurability(name string) (Durability, error) {
	for _, d := range Durabilities() {
		if name == string(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("durability %q: want %s or %s", name, DurabilityProcess, DurabilityFsync)
}

// Option changes how Open opens a store.
type Option func(*options)

// options are the settings of Open; the zero value is the default.
type options struct {
	durability Durability
	observer   Observer
}

// WithDurability sets what an acknowledged write survives (default DurabilityProcess).
func WithDurability(d Durability) Option {
	return func(o *options) { o.durability = d }
}

// openOptions applies opts over the defaults and checks them.
func openOptions(opts []Option) (options, error) {
	o := options{durability: DurabilityProcess, observer: noObserver{}}
	for _, opt := range opts {
		opt(&o)
	}
	if _, err := ParseDurability(string(o.durability)); err != nil {
		return options{}, err
	}
	return o, nil
}

// sqliteSynchronous is the synchronous pragma of a SQLite file's writer for a durability.
func (d Durability) sqliteSynchronous() string {
	if d == DurabilityFsync {
		return "FULL"
	}
	return "NORMAL"
}

// postgresSynchronousCommit is the synchronous_commit setting of a PostgreSQL session for a
// durability. A DSN that sets synchronous_commit itself keeps its value, unless that value
// would break DurabilityFsync's promise (off: every other value flushes the commit locally).
func (d Durability) postgresSynchronousCommit(fromDSN string) (string, error) {
	want := "off"
	if d == DurabilityFsync {
		want = "on"
	}
	switch v := strings.ToLower(fromDSN); {
	case v == "":
		return want, nil
	case d == DurabilityFsync && (v == "off" || v == "false" || v == "no" || v == "0"):
		return "", fmt.Errorf("durability %s needs commits flushed to disk, but the DSN sets synchronous_commit=%s: drop it from the DSN or use durability %s", d, fromDSN, DurabilityProcess)
	default:
		return fromDSN, nil
	}
}
