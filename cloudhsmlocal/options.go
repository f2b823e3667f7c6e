package cloudhsmlocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/history"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/server"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore"
	"github.com/cloudhsm-local/cloudhsm-local/internal/topology"
)

// Options are a server's settings: the flags of "cloudhsm-local serve", as Go values. The zero
// value is a private server on a throwaway memory store, listening on a free loopback port, in
// permissive mode, with the documented defaults (docs/BEHAVIOUR.md). A zero field takes its default.
type Options struct {
	// Addr is the address to listen on; default "127.0.0.1:0" (a free loopback port).
	Addr string
	// Store is where state lives: "memory" (the default: a private database lost on Close),
	// "sqlite:PATH" (a file, created if missing, that outlives the server), or a PostgreSQL URL
	// "postgres://USER@HOST:PORT/DB?sslmode=disable" (also "postgresql://"; the database must
	// exist). Several servers may share one file or database.
	Store string
	// Durability says what an answered write survives; default DurabilityProcess. The memory
	// store takes only DurabilityProcess.
	Durability Durability
	// Region is the region of requests that carry no SigV4 credential scope; default "us-east-1".
	Region string

	// Delay is how long every *_IN_PROGRESS state lasts, in virtual time; default 0 (a state is
	// seen in the answer of the call that started it and is over by the next read).
	Delay time.Duration
	// Delays overrides Delay per transition.
	Delays map[Transition]time.Duration
	// PendingDeletion is how long a deleted backup stays restorable; 0 means 7 days.
	PendingDeletion time.Duration
	// Tombstone is how long DELETED backups and clusters stay listed; 0 means 7 days.
	Tombstone time.Duration
	// AutoActivate makes clusters ACTIVE as soon as they are INITIALIZED.
	AutoActivate bool

	// MaxClusters is the quota of clusters per account and region; 0 means 50.
	MaxClusters int
	// MaxHSMsPerCluster is the quota of HSMs in one cluster; 0 means 28.
	MaxHSMsPerCluster int

	// Subnets pins subnet IDs to a VPC and an availability zone, as a topology file does;
	// a cluster may then use only these subnets. Without Subnets or TopologyFile, every subnet of
	// an account and region is in one derived VPC and gets the region's zones in turn.
	Subnets map[string]Subnet
	// TopologyFile is the path of a topology file,
	// {"subnets":{"subnet-…":{"vpc":"vpc-…","az":"us-east-1a"}}}; not together with Subnets.
	TopologyFile string

	// Strict verifies the SigV4 signature of every request against Credentials and
	// CredentialsFile (at least one credential in all) and applies each credential's policy; it
	// needs an AdminToken. Without Strict, signatures are not checked and a 12-digit access key
	// is the account.
	Strict bool
	// Credentials are strict mode's credentials.
	Credentials []Credential
	// CredentialsFile is the path of a strict-mode credentials file (a JSON list, see README.md),
	// read once by Start; its credentials join Credentials.
	CredentialsFile string
	// AdminToken is the bearer token the admin API requires; the Server's own admin methods
	// send it. Strict mode needs one; in permissive mode it is optional.
	AdminToken string

	// Logger receives the server's warnings and request failures; nil discards them.
	Logger *slog.Logger

	// History is how many API requests the server keeps for Server.Requests (the request
	// history, like --history): 0 means 1,000, a negative value turns it off; at most 10,000.
	History int
}

// Transition names a timed state change whose delay Options.Delays can set; the names are
// those of the --delays flag.
type Transition string

// The transitions of Options.Delays.
const (
	ClusterCreate     Transition = "cluster-create"
	ClusterInitialize Transition = "cluster-initialize"
	ClusterModify     Transition = "cluster-modify"
	ClusterDelete     Transition = "cluster-delete"
	HSMCreate         Transition = "hsm-create"
	HSMDelete         Transition = "hsm-delete"
	BackupCreate      Transition = "backup-create"
)

// Durability says what an answered write survives.
type Durability string

// The durabilities of Options.Durability.
const (
	// DurabilityProcess: an answered write survives a crash of the server's process.
	DurabilityProcess Durability = "process"
	// DurabilityFsync: an answered write is on disk first (SQLite or PostgreSQL only).
	DurabilityFsync Durability = "fsync"
)

// Subnet is where one subnet of Options.Subnets lives.
type Subnet struct {
	// VPC is the subnet's VPC ID, "vpc-…".
	VPC string
	// AvailabilityZone is the subnet's zone, such as "us-east-1a"; it gives the region.
	AvailabilityZone string
}

// Credential is one strict-mode credential: the access key a client signs with, and the
// account it acts as.
type Credential struct {
	// AccessKeyID and SecretAccessKey are the key pair (both required).
	AccessKeyID, SecretAccessKey string
	// SessionToken makes a session credential: requests must carry it (optional).
	SessionToken string
	// SessionExpires is when the session ends; zero never (only with a SessionToken).
	SessionExpires time.Time
	// AccountID is the 12-digit account the credential acts as (required).
	AccountID string
	// Policy is an optional IAM-style identity policy (JSON); without one the credential may do
	// everything its account may.
	Policy string
}

// ErrInvalidOptions is wrapped by every error Start returns for Options it refuses; the
// message names the field and what to do.
var ErrInvalidOptions = errors.New("invalid cloudhsmlocal.Options")

// invalidf returns an error wrapping ErrInvalidOptions.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
}

// settings are Options checked and turned into what Start needs.
type settings struct {
	addr   string
	config server.Config
	// subnets are Options.Subnets or the topology file's, by ID; nil without either.
	subnets map[string]Subnet
	// credentials are strict mode's, Options.Credentials first, then the file's.
	credentials []identity.CredentialEntry
}

// resolve checks every option and fills the defaults; each error wraps ErrInvalidOptions.
func (o Options) resolve() (settings, error) {
	s := settings{addr: o.Addr}
	if s.addr == "" {
		s.addr = "127.0.0.1:0"
	}
	cfg := server.Config{Store: o.Store, DefaultRegion: o.Region, Logger: o.Logger, AdminToken: o.AdminToken}
	switch {
	case o.History == 0:
		cfg.History = history.DefaultCapacity
	case o.History > history.MaxCapacity:
		return s, invalidf("History %d is over the most a server keeps (%d): use 0 for the default of %d, or a negative value to turn the history off", o.History, history.MaxCapacity, history.DefaultCapacity)
	case o.History > 0:
		cfg.History = o.History
	}
	if cfg.Store == "" {
		cfg.Store = "memory"
	}
	if !knownStore(cfg.Store) {
		return s, invalidf("Store %q: use \"memory\", \"sqlite:PATH\" or \"postgres://USER@HOST:PORT/DB\"", sqlstore.RedactDSN(cfg.Store))
	}
	if cfg.DefaultRegion == "" {
		cfg.DefaultRegion = identity.DefaultRegion
	}
	if err := (identity.Resolver{DefaultRegion: cfg.DefaultRegion}).Validate(); err != nil {
		return s, invalidf("Region %q is not a region such as us-east-1", cfg.DefaultRegion)
	}
	if o.Durability != "" {
		d, err := sqlstore.ParseDurability(string(o.Durability))
		if err != nil {
			return s, invalidf("Durability: %v", err)
		}
		if cfg.Store == "memory" && d != sqlstore.DurabilityProcess {
			return s, invalidf("Durability %s needs a store on disk (Store \"sqlite:PATH\" or \"postgres://…\"); the memory store keeps nothing", d)
		}
		cfg.Durability = d
	}

	var err error
	if cfg.Lifecycle, err = o.lifecycle(); err != nil {
		return s, err
	}
	if cfg.Service, s.subnets, err = o.service(); err != nil {
		return s, err
	}
	if s.credentials, err = o.strict(); err != nil {
		return s, err
	}
	if o.Strict {
		cfg.Verifier, err = verifier(s.credentials)
		if err != nil {
			return s, err
		}
	}
	s.config = cfg
	return s, nil
}

// knownStore reports whether a Store value names a backend.
func knownStore(dsn string) bool {
	return dsn == "memory" || (strings.HasPrefix(dsn, "sqlite:") && len(dsn) > len("sqlite:")) ||
		strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// lifecycle checks the delays and windows.
func (o Options) lifecycle() (lifecycle.Config, error) {
	life := lifecycle.DefaultConfig()
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"Delay", o.Delay}, {"PendingDeletion", o.PendingDeletion}, {"Tombstone", o.Tombstone}} {
		if d.value < 0 {
			return life, invalidf("%s is negative (%s): use 0 for the default or a positive duration", d.name, d.value)
		}
	}
	life.DefaultDelay, life.AutoActivate = o.Delay, o.AutoActivate
	if o.PendingDeletion > 0 {
		life.PendingDeletion = o.PendingDeletion
	}
	if o.Tombstone > 0 {
		life.Tombstone = o.Tombstone
	}
	life.Delays = make(map[lifecycle.Transition]time.Duration, len(o.Delays))
	for _, t := range slices.Sorted(maps.Keys(o.Delays)) {
		d := o.Delays[t]
		if !slices.Contains(lifecycle.Transitions(), lifecycle.Transition(t)) {
			return life, invalidf("Delays: %q is not a transition; use one of %s", t, transitionNames())
		}
		if d < 0 {
			return life, invalidf("Delays[%s] is negative (%s)", t, d)
		}
		life.Delays[lifecycle.Transition(t)] = d
	}
	return life, nil
}

func transitionNames() string {
	var names []string
	for _, t := range lifecycle.Transitions() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// service checks the quotas and the topology, and returns the subnets it names.
func (o Options) service() (service.Config, map[string]Subnet, error) {
	svc := service.DefaultConfig()
	if o.MaxClusters < 0 || o.MaxHSMsPerCluster < 0 {
		return svc, nil, invalidf("MaxClusters and MaxHSMsPerCluster must not be negative, got %d and %d (0 is the default)", o.MaxClusters, o.MaxHSMsPerCluster)
	}
	if o.MaxClusters > 0 {
		svc.MaxClusters = o.MaxClusters
	}
	if o.MaxHSMsPerCluster > 0 {
		svc.MaxHSMsPerCluster = o.MaxHSMsPerCluster
	}
	var raw []byte
	switch {
	case o.Subnets != nil && o.TopologyFile != "":
		return svc, nil, invalidf("give Subnets or TopologyFile, not both")
	case o.TopologyFile != "":
		var err error
		if raw, err = os.ReadFile(o.TopologyFile); err != nil {
			return svc, nil, invalidf("TopologyFile: %v", err)
		}
	case o.Subnets != nil:
		doc := topologyFile{Subnets: map[string]topology.Subnet{}}
		for id, sub := range o.Subnets {
			doc.Subnets[id] = topology.Subnet{VpcID: sub.VPC, AvailabilityZone: sub.AvailabilityZone}
		}
		var err error
		if raw, err = json.Marshal(doc); err != nil {
			return svc, nil, fmt.Errorf("encode Subnets: %w", err)
		}
	default:
		return svc, nil, nil
	}
	topo, err := topology.Parse(raw)
	if err != nil {
		return svc, nil, invalidf("Subnets or TopologyFile: %v", err)
	}
	var doc topologyFile
	if err := json.Unmarshal(raw, &doc); err != nil { // topology.Parse has read it already
		return svc, nil, invalidf("Subnets or TopologyFile: %v", err)
	}
	subnets := make(map[string]Subnet, len(doc.Subnets))
	for id, sub := range doc.Subnets {
		subnets[id] = Subnet{VPC: sub.VpcID, AvailabilityZone: sub.AvailabilityZone}
	}
	svc.Topology = topo
	return svc, subnets, nil
}

// topologyFile is the JSON form of a topology file.
type topologyFile struct {
	Subnets map[string]topology.Subnet `json:"subnets"`
}

// strict checks the authentication options together, as --auth, --credentials and
// --admin-token are, and returns strict mode's credentials: Options.Credentials, then the
// file's. Strict mode without an admin token is refused: the admin API can reset the store and
// move the clock, and would be the one open door.
func (o Options) strict() ([]identity.CredentialEntry, error) {
	if !o.Strict {
		if len(o.Credentials) > 0 || o.CredentialsFile != "" {
			return nil, invalidf("Credentials and CredentialsFile are only used with Strict: true")
		}
		return nil, nil
	}
	if o.AdminToken == "" {
		return nil, invalidf("Strict needs an AdminToken to protect the admin API")
	}
	entries := make([]identity.CredentialEntry, 0, len(o.Credentials))
	for _, c := range o.Credentials {
		e := identity.CredentialEntry{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, AccountID: c.AccountID}
		if !c.SessionExpires.IsZero() {
			e.SessionExpires = c.SessionExpires.UTC().Format(time.RFC3339)
		}
		if c.Policy != "" {
			var err error
			if e.Policy, err = json.Marshal(c.Policy); err != nil { // the document as a JSON string
				return nil, fmt.Errorf("encode a credential's policy: %w", err)
			}
		}
		entries = append(entries, e)
	}
	if _, err := parseCredentials(entries); err != nil {
		return nil, invalidf("Credentials: %v", err)
	}
	if o.CredentialsFile != "" {
		raw, err := os.ReadFile(o.CredentialsFile)
		if err != nil {
			return nil, invalidf("CredentialsFile: %v", err)
		}
		if _, err := identity.ParseCredentials(raw); err != nil {
			return nil, invalidf("CredentialsFile %s: %v", o.CredentialsFile, err)
		}
		var file []identity.CredentialEntry
		if err := json.Unmarshal(raw, &file); err != nil { // ParseCredentials has read it already
			return nil, invalidf("CredentialsFile %s: %v", o.CredentialsFile, err)
		}
		entries = append(entries, file...)
	}
	if len(entries) == 0 {
		return nil, invalidf("Strict needs at least one credential in Credentials or CredentialsFile")
	}
	return entries, nil
}

// parseCredentials checks entries as a credentials file is checked.
func parseCredentials(entries []identity.CredentialEntry) (*identity.Credentials, error) {
	raw, err := json.Marshal(entries)
	if err != nil {
		return nil, fmt.Errorf("encode credentials: %w", err)
	}
	return identity.ParseCredentials(raw)
}

// verifier returns strict mode's Verifier over every credential, refusing an access key given
// twice. It judges signatures by the real clock, never by the virtual one, as the binary does.
func verifier(entries []identity.CredentialEntry) (*identity.Verifier, error) {
	set, err := parseCredentials(entries)
	if err != nil {
		return nil, invalidf("Credentials and CredentialsFile together (Credentials first): %v", err)
	}
	return identity.NewVerifier(clock.Real{}, set), nil
}
