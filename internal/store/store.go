// Package store defines where cloudhsm-local keeps its state: one Store interface whose
// contract every backend (SQLite, PostgreSQL) meets, and the records it holds.
//
// The store knows rows, not rules: it never decides whether a backup may be deleted, never reads
// the clock and never speaks the API's JSON. It must keep no in-memory copy of the truth, so that
// several server processes can share one database.
package store

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// Errors every backend returns, wrapped or not; callers test them with errors.Is.
var (
	// ErrNotFound: the record does not exist (or was purged).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a conditional update found the record changed since it was read
	// (its Version differs), or an insert found the key taken.
	ErrConflict = errors.New("store: conflict")
)

// Store is a transactional home for all resources of all accounts and regions.
type Store interface {
	// Update runs fn in one read-write transaction and commits it if fn returns nil; if fn
	// returns an error, or the commit fails, nothing fn wrote is kept.
	//
	// scope says what fn may change: the resources of some tenants, or Everything. Update
	// transactions MUST be serializable with respect to their scopes: an Update observes a
	// state that no concurrent Update of an overlapping scope changes before the commit, and
	// sees everything such Updates committed before it. Two scopes overlap when they name a
	// common tenant or either is Everything. Updates of disjoint scopes MAY run concurrently,
	// so fn MUST NOT write a resource outside its scope (a new ID may be reserved anywhere, and
	// only Everything may write a setting other than through InitSetting).
	//
	// A backend MAY run fn more than once (to retry a serialization failure), so fn must not
	// have effects outside the transaction. Update MUST return fn's error unchanged (so
	// errors.As works), and wrap backend failures. fn must not call Update or View itself.
	Update(ctx context.Context, scope Scope, fn func(Tx) error) error
	// View runs fn in a read-only transaction that sees one consistent snapshot. Writing
	// through the Tx of a View MUST fail.
	View(ctx context.Context, fn func(Tx) error) error
	// Kind names the backend for health output: "sqlite", "memory" or "postgres".
	Kind() string
	// Close releases the backend; the Store must not be used afterwards.
	Close() error
}

// Tx is one transaction. Times are stored with millisecond precision, in UTC; a zero time.Time
// is stored as "absent" and read back as the zero value. Lists are returned in the order each
// method documents, never in map order.
type Tx interface {
	// Setting returns a named value (clock offset, token key, CA bundle), ErrNotFound if unset.
	Setting(name string) (string, error)
	// Settings returns the values of the named settings that are set, keyed by name, in one
	// read; names that are unset are absent from the map (not an error).
	Settings(names ...string) (map[string]string, error)
	// PutSetting creates or replaces a named value.
	PutSetting(name, value string) error
	// InitSetting stores value under name unless the name is already set, and returns the value
	// in force afterwards; concurrent callers all get the same winner.
	InitSetting(name, value string) (string, error)

	// ReserveID records a newly generated resource ID. It MUST return ErrConflict if the ID was
	// ever reserved before, even if its resource has been purged since: IDs are never reused.
	// After ErrConflict the transaction stays usable.
	ReserveID(id string) error

	// NextEvent returns the earliest scheduled lifecycle event of the resources in scope (see
	// Event), with ok false when nothing is scheduled there. An HSM is in its cluster's tenant.
	NextEvent(in Scope) (ev Event, ok bool, err error)
	// Agenda returns, in one read, what Settings(names...) and NextEvent(in) return: what every
	// transaction asks first (the virtual clock, and whether anything is due).
	Agenda(in Scope, names ...string) (settings map[string]string, ev Event, ok bool, err error)

	// Backup returns the backup with this ID in any account or region, or ErrNotFound.
	Backup(id string) (Backup, error)
	// InsertBackup adds a new backup with Version 1; ErrConflict if the ID exists.
	InsertBackup(b Backup) error
	// UpdateBackup stores the fields a backup's life changes — State, NeverExpires, DeleteAt and
	// DueAt — into the backup whose ID and Version equal b's, MUST increment the stored Version,
	// and returns b with that new Version, so that the caller holds what it stored and can update
	// it again without reading it back; the backup's other fields (owner, cluster, origin,
	// creation) keep the values it was inserted with. ErrConflict if the stored Version differs,
	// ErrNotFound if there is no such backup; on any error it MUST return b unchanged.
	UpdateBackup(b Backup) (Backup, error)
	// DeleteBackup removes a backup with its tags and resource policy (the tombstone purge);
	// deleting a missing backup is not an error.
	DeleteBackup(id string) error
	// Backups lists backups matching q, ordered by (CreatedAt, ID) with IDs in byte order, descending unless
	// q.Ascending, starting strictly after q.After, at most q.Limit of them (0 = no limit), with
	// their Tags if q.WithTags.
	Backups(q BackupQuery) ([]Backup, error)

	// Cluster returns the cluster with this ID in any account or region, or ErrNotFound.
	Cluster(id string) (Cluster, error)
	// InsertCluster adds a new cluster with Version 1; ErrConflict if the ID exists.
	InsertCluster(c Cluster) error
	// UpdateCluster replaces the cluster whose ID and Version equal c's, MUST increment the
	// stored Version, and returns c with that new Version; ErrConflict / ErrNotFound, with c
	// returned unchanged, as UpdateBackup.
	UpdateCluster(c Cluster) (Cluster, error)
	// DeleteCluster removes a cluster and its tags (the tombstone purge). Its backups stay, and
	// so do HSM rows (a cluster is only deleted once it has none). Missing is not an error.
	DeleteCluster(id string) error
	// Clusters lists clusters matching q ordered by (CreatedAt, ID) ascending, starting
	// strictly after q.After, at most q.Limit (0 = no limit).
	Clusters(q ClusterQuery) ([]Cluster, error)
	// CountClusters counts the clusters of an account and region that are not DELETED, but
	// stops at limit: it returns min(count, limit), reading at most limit clusters, so that a
	// quota check costs no more than the quota. A limit <= 0 returns 0.
	CountClusters(account, region string, limit int) (int, error)

	// CountResources counts the clusters, HSMs and backups of every account and region by kind
	// and state, for the metrics a scrape reads: one ResourceCount per kind and state that has
	// at least one resource, ordered by Kind and then State in byte order. It MUST stay cheap
	// with millions of backups: it may neither read each backup's row nor sort the backups
	// (the store may count them in bulk, group the few that are not READY from an index, and
	// take the difference). In a View it never blocks an Update (except on the memory store,
	// whose one connection serves both).
	CountResources() ([]ResourceCount, error)

	// HSMs returns the HSMs of the given clusters ordered by (CreatedAt, ID), including those
	// being deleted.
	HSMs(clusterIDs ...string) ([]HSM, error)
	// HSM returns one HSM by ID, or ErrNotFound.
	HSM(id string) (HSM, error)
	// InsertHSM adds an HSM; ErrConflict if the ID exists.
	InsertHSM(h HSM) error
	// UpdateHSM replaces the HSM with h's ID; ErrNotFound if there is none.
	UpdateHSM(h HSM) error
	// DeleteHSM removes an HSM for good; missing is not an error.
	DeleteHSM(id string) error

	// ClusterIdentity returns the certificates (and key) a cluster had when it became ACTIVE,
	// kept after the cluster itself is purged so its backups can still be restored; ErrNotFound
	// if none was recorded.
	ClusterIdentity(clusterID string) (Certificates, error)
	// PutClusterIdentity records or replaces a cluster's identity. Only Reset removes it.
	PutClusterIdentity(clusterID string, c Certificates) error

	// Subnet returns what the store knows of a subnet in an account and region, or ErrNotFound.
	Subnet(account, region, subnetID string) (Subnet, error)
	// InsertSubnet records a subnet; ErrConflict if already known.
	InsertSubnet(s Subnet) error
	// CountSubnets counts the known subnets of an account and region.
	CountSubnets(account, region string) (int, error)

	// Tags returns the tags of each of the resources (cluster or backup IDs), keyed by ID, each
	// list ordered by key in byte order. Resources without tags are absent from the map.
	Tags(resourceIDs ...string) (map[string][]Tag, error)
	// PutTags adds tags to a resource, replacing the values of keys it already has.
	PutTags(resourceID string, tags []Tag) error
	// DeleteTags removes the given keys from a resource; absent keys are ignored.
	DeleteTags(resourceID string, keys []string) error

	// Policy returns a backup's resource policy, or ErrNotFound.
	Policy(backupID string) (Policy, error)
	// PutPolicy creates or replaces a backup's resource policy and its grants.
	PutPolicy(p Policy) error
	// DeletePolicy removes a backup's policy and grants; ErrNotFound if it has none.
	DeletePolicy(backupID string) error

	// Census counts the clusters, HSMs and backups of every account and region by state (an HSM
	// counts in its cluster's account and region), ordered by Account, Region, Kind, then State
	// in byte order. Owners and states with nothing stored are absent. It reads every record's
	// owner and state once (an index scan), so it is for an overview, not for a request path.
	Census() ([]StateCount, error)

	// Reset deletes every resource, setting and reserved ID: the store is as new.
	Reset() error

	// Snapshot reads and writes: the whole store at once, for export and import.
	//
	// Each of the Each methods streams every record of one kind, of every account and region,
	// in the order it documents, calling fn once per record while it reads them: it MUST hold a
	// bounded number of records in memory whatever the store holds. fn MUST NOT use the Tx (the
	// backend may be in the middle of a read). The first error fn returns stops the iteration
	// and MUST be returned unchanged. Settings are not streamed: their names are known.

	// EachSubnet calls fn with every subnet, ordered by (Account, Region, ID).
	EachSubnet(fn func(Subnet) error) error
	// EachClusterIdentity calls fn with every recorded cluster identity, ordered by cluster ID.
	EachClusterIdentity(fn func(clusterID string, c Certificates) error) error
	// EachCluster calls fn with every cluster and its tags (ordered by key; nil when it has
	// none), ordered by ID.
	EachCluster(fn func(c Cluster, tags []Tag) error) error
	// EachHSM calls fn with every HSM, ordered by ID.
	EachHSM(fn func(HSM) error) error
	// EachBackup calls fn with every backup with its Tags (ordered by key; nil when it has
	// none), ordered by ID.
	EachBackup(fn func(Backup) error) error
	// EachPolicy calls fn with every resource policy with its grants in the order they were put,
	// ordered by backup ID.
	EachPolicy(fn func(Policy) error) error
	// EachRetiredID calls fn with every reserved ID that no backup, cluster or HSM has — the IDs
	// of purged resources, never to be used again — in byte order.
	EachRetiredID(fn func(id string) error) error
	// Empty reports whether the store holds no resource of any kind and no reserved ID
	// (settings do not count), in one read.
	Empty() (bool, error)

	// ReserveIDs records ids as ReserveID does, many per statement. If one of them was reserved
	// before, or comes twice, it MUST return an *IDConflictError naming the first such one;
	// others of ids may have been recorded by then, so the caller must fail the transaction.
	ReserveIDs(ids []string) error
	// InsertBackups adds new backups as InsertBackup does (Version 1), each with its Tags, which
	// must have distinct keys, many per statement. If a backup's ID exists, or comes twice, it
	// MUST return an *IDConflictError naming the first such one; others may have been added by
	// then, so the caller must fail the transaction.
	InsertBackups(bs []Backup) error
}

// Tenant is one account in one region: the resources an account holds there. Apart from
// sharing and region copies, tenants never touch each other's resources.
type Tenant struct {
	Account, Region string
}

// Scope is the part of the store an Update may change, and so what it is serialized with:
// the resources of some tenants, or everything. The zero Scope names no tenant.
type Scope struct {
	all     bool
	tenants []Tenant // sorted, without duplicates
}

// Everything is the scope of an Update that may change any resource or setting (moving the
// clock, Reset, imports): it is serialized with every other Update.
func Everything() Scope { return Scope{all: true} }

// Tenants is the scope of an Update that changes the resources of ts only.
func Tenants(ts ...Tenant) Scope {
	sorted := slices.Clone(ts)
	slices.SortFunc(sorted, func(a, b Tenant) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region))
	})
	return Scope{tenants: slices.Compact(sorted)}
}

// All reports whether s is Everything.
func (s Scope) All() bool { return s.all }

// List returns the tenants of s, ordered by (Account, Region) without duplicates: the
// canonical order in which a backend takes their locks. It is empty for Everything.
func (s Scope) List() []Tenant { return s.tenants }

// Key returns a text that is equal for equal scopes and different otherwise.
func (s Scope) Key() string {
	if s.all {
		return "*"
	}
	var b strings.Builder
	for _, t := range s.tenants {
		b.WriteString(t.Account)
		b.WriteByte('/')
		b.WriteString(t.Region)
		b.WriteByte(' ')
	}
	return b.String()
}

// StateCount is one line of Tx.Census: how many resources of one kind an account holds in a
// region in one state.
type StateCount struct {
	Account, Region string
	Kind            string // KindBackup, KindCluster or KindHSM
	State           string
	Count           int
}

// IDConflictError is the error of a bulk write (ReserveIDs, InsertBackups) that met an ID it
// may not write again; it matches ErrConflict.
type IDConflictError struct {
	// ID is the first of the batch that conflicted.
	ID string
}

func (e *IDConflictError) Error() string { return "store: conflict: " + e.ID + " is taken" }

// Unwrap makes an IDConflictError match ErrConflict.
func (e *IDConflictError) Unwrap() error { return ErrConflict }

// EventKind says what a scheduled lifecycle event is about.
type EventKind int

// Event kinds, in the order events of the same instant are applied.
const (
	EventBackup      EventKind = iota // a backup's DueAt: CREATE_IN_PROGRESS, PENDING_DELETION or DELETED ends
	EventHSM                          // an HSM's DueAt: CREATE_IN_PROGRESS or DELETE_IN_PROGRESS ends
	EventCluster                      // a cluster's DueAt: an *_IN_PROGRESS state or the DELETED tombstone ends
	EventDailyBackup                  // an ACTIVE cluster's NextBackupAt: the daily backup is due
)

// Event is one scheduled lifecycle step: the record of kind Kind with ID ID has something due
// At. Events are ordered by At, then Kind, then ID.
type Event struct {
	Kind EventKind
	ID   string
	At   time.Time
}

// Backup is a stored backup.
type Backup struct {
	ID, Account, Region string
	ClusterID           string // empty for a region copy
	State               string // api.BackupState* values
	HsmType, Mode       string
	NeverExpires        bool
	CreatedAt           time.Time
	DeleteAt            time.Time // DeleteTimestamp; zero when absent
	CopiedAt            time.Time // CopyTimestamp; zero unless a region copy
	SourceRegion        string
	SourceBackupID      string
	SourceClusterID     string
	DueAt               time.Time // next lifecycle event; zero when none
	Version             int64
	// Tags are the backup's tags ordered by key, as Tx.Tags returns them; only Backups with
	// BackupQuery.WithTags and EachBackup fill them (nil when there are none). Writes ignore
	// them, except InsertBackups.
	Tags []Tag
}

// BackupQuery selects backups. Empty lists and nil pointers do not filter; Account and Region
// always do (exactly). Values within one list are alternatives (OR); different fields must all
// match (AND).
type BackupQuery struct {
	Account, Region string
	// SharedWith, when set, selects backups of other accounts in Region that a policy lets
	// this account describe, instead of backups owned by Account (Account is then ignored).
	SharedWith      string
	IDs             []string
	SourceBackupIDs []string
	ClusterIDs      []string
	States          []string
	NeverExpires    *bool
	Ascending       bool
	After           *Cursor
	Limit           int
	// WithTags also loads each backup's Tags, in the same read.
	WithTags bool
}

// Cursor is a position in a (CreatedAt, ID) ordering.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// Cluster is a stored cluster. Its HSMs are separate records.
type Cluster struct {
	ID, Account, Region string
	State, StateMessage string
	HsmType             string
	Mode                string
	NetworkType         string
	RetentionDays       int
	SourceBackupID      string
	VpcID               string
	SecurityGroup       string
	SubnetMapping       map[string]string // availability zone -> subnet ID
	PreCoPassword       string
	CreatedAt           time.Time
	HsmTypeRollbackAt   time.Time
	Certificates        Certificates
	DueAt               time.Time // end of an *_IN_PROGRESS state or of the DELETED tombstone
	NextBackupAt        time.Time // next daily backup while ACTIVE
	Version             int64
}

// Certificates are a cluster's key and X.509 material, all PEM; empty when absent.
type Certificates struct {
	ClusterKey                      string // the cluster's private key: never shown to clients
	ClusterCsr                      string
	HsmCertificate                  string
	AwsHardwareCertificate          string
	ManufacturerHardwareCertificate string
	ClusterCertificate              string
}

// ClusterQuery selects clusters; empty lists do not filter.
type ClusterQuery struct {
	Account, Region string
	IDs             []string
	VpcIDs          []string
	States          []string
	After           *Cursor
	Limit           int
}

// Resource kinds of ResourceCount and StateCount.
const (
	KindBackup  = "backup"
	KindCluster = "cluster"
	KindHSM     = "hsm"
)

// ResourceCount is how many resources of one kind (KindBackup, KindCluster or KindHSM) are in
// one state, over every account and region. DELETED clusters and backups count while they are
// listed; purged ones do not.
type ResourceCount struct {
	Kind, State string
	Count       int64
}

// HSM is a stored HSM.
type HSM struct {
	ID, ClusterID       string
	AvailabilityZone    string
	SubnetID            string
	EniID, EniIP        string
	HsmType             string
	State, StateMessage string
	CreatedAt           time.Time
	DueAt               time.Time
}

// Subnet is where a subnet lives, as first seen or as the topology file says.
type Subnet struct {
	Account, Region  string
	ID               string
	VpcID            string
	AvailabilityZone string
}

// Tag is one key-value pair on a resource.
type Tag struct {
	Key, Value string
}

// Policy is a backup's resource policy: the document as given, and the grants parsed from it,
// returned in the order they were put.
type Policy struct {
	BackupID string
	Document string
	Grants   []Grant
}

// Grant lets one account describe a backup and/or create clusters from it.
type Grant struct {
	Account       string
	Describe      bool
	CreateCluster bool
}
