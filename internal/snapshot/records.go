// Package snapshot is the document that holds a whole cloudhsm-local state — the virtual clock,
// every account and region's clusters (with certificates and keys), HSMs, backups, tags,
// resource policies, cluster identities and retired IDs — as one versioned JSON object
// (GET and PUT /_cloudhsm-local/state, `cloudhsm-local export` and `import`).
//
// A document is written (Writer) and read (Read) record by record, so that its size never
// decides the memory used. Read checks each record on its own as it goes — JSON types, the
// model's formats and enum values, times against the document's clock, each section's order —
// and stops at the first problem with an *Error naming its JSON path and the rule. What needs
// more than one record or the store (a reference, the rules of an operation) is the reader's
// caller's: the service.
//
// This package must never touch the store or the network: it turns bytes into store records and
// back.
package snapshot

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// Version is the version of the document this package writes and the only one it reads.
const Version = 1

// Header is what a document says before its records.
type Header struct {
	// Clock is the virtual time the document was taken at; no record happened after it.
	Clock time.Time
	// HardwareCA is the emulator's hardware CA bundle (PEM certificates and key) that signed
	// the HSMs' certificates; empty when the store never made one.
	HardwareCA string
}

// The document's members, in the order they must come. Every section is a list.
const (
	memberVersion           = "Version"
	memberClock             = "Clock"
	memberHardwareCA        = "HardwareCa"
	memberSubnets           = "Subnets"
	memberClusterIdentities = "ClusterIdentities"
	memberClusters          = "Clusters"
	memberHSMs              = "Hsms"
	memberBackups           = "Backups"
	memberResourcePolicies  = "ResourcePolicies"
	memberRetiredIDs        = "RetiredIds"
)

// members lists every member of a version 1 document in its order.
var members = []string{memberVersion, memberClock, memberHardwareCA, memberSubnets, memberClusterIdentities,
	memberClusters, memberHSMs, memberBackups, memberResourcePolicies, memberRetiredIDs}

// sections are the members that are lists of records, in order.
var sections = members[3:]

// timeLayout writes every time of a document: RFC 3339 in UTC, to the millisecond (the store's
// and the wire's precision).
const timeLayout = "2006-01-02T15:04:05.000Z"

// formatTime renders t, or "" for the zero time (an absent member).
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// Error is a document refused: the JSON path of what is wrong ("$.Backups[3].BackupState") and
// the rule it breaks.
type Error struct {
	Path, Problem string
}

func (e *Error) Error() string { return e.Path + ": " + e.Problem }

// Errorf returns an *Error at path.
func Errorf(path, format string, args ...any) *Error {
	return &Error{Path: path, Problem: fmt.Sprintf(format, args...)}
}

// The records of a document, as JSON. Member names follow the CloudHSM v2 API's where it has the
// field; times are RFC 3339 strings; empty optional members are left out.

type subnetJSON struct {
	Account          string `json:"Account"`
	Region           string `json:"Region"`
	SubnetID         string `json:"SubnetId"`
	VpcID            string `json:"VpcId"`
	AvailabilityZone string `json:"AvailabilityZone"`
}

type certificatesJSON struct {
	ClusterKey                      string `json:"ClusterKey,omitempty"`
	ClusterCsr                      string `json:"ClusterCsr,omitempty"`
	HsmCertificate                  string `json:"HsmCertificate,omitempty"`
	AwsHardwareCertificate          string `json:"AwsHardwareCertificate,omitempty"`
	ManufacturerHardwareCertificate string `json:"ManufacturerHardwareCertificate,omitempty"`
	ClusterCertificate              string `json:"ClusterCertificate,omitempty"`
}

type identityJSON struct {
	ClusterID    string           `json:"ClusterId"`
	Certificates certificatesJSON `json:"Certificates"`
}

type tagJSON struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type clusterJSON struct {
	ClusterID                 string            `json:"ClusterId"`
	Account                   string            `json:"Account"`
	Region                    string            `json:"Region"`
	State                     string            `json:"State"`
	StateMessage              string            `json:"StateMessage,omitempty"`
	HsmType                   string            `json:"HsmType"`
	Mode                      string            `json:"Mode"`
	NetworkType               string            `json:"NetworkType"`
	BackupRetentionDays       int               `json:"BackupRetentionDays"`
	SourceBackupID            string            `json:"SourceBackupId,omitempty"`
	VpcID                     string            `json:"VpcId"`
	SecurityGroup             string            `json:"SecurityGroup"`
	SubnetMapping             map[string]string `json:"SubnetMapping"`
	PreCoPassword             string            `json:"PreCoPassword,omitempty"`
	CreateTimestamp           string            `json:"CreateTimestamp"`
	HsmTypeRollbackExpiration string            `json:"HsmTypeRollbackExpiration,omitempty"`
	Certificates              *certificatesJSON `json:"Certificates,omitempty"`
	DueTimestamp              string            `json:"DueTimestamp,omitempty"`
	NextBackupTimestamp       string            `json:"NextBackupTimestamp,omitempty"`
	TagList                   []tagJSON         `json:"TagList"`
}

type hsmJSON struct {
	HsmID            string `json:"HsmId"`
	ClusterID        string `json:"ClusterId"`
	AvailabilityZone string `json:"AvailabilityZone"`
	SubnetID         string `json:"SubnetId"`
	EniID            string `json:"EniId"`
	EniIP            string `json:"EniIp"`
	HsmType          string `json:"HsmType"`
	State            string `json:"State"`
	StateMessage     string `json:"StateMessage,omitempty"`
	CreateTimestamp  string `json:"CreateTimestamp"`
	DueTimestamp     string `json:"DueTimestamp,omitempty"`
}

type backupJSON struct {
	BackupID        string    `json:"BackupId"`
	Account         string    `json:"Account"`
	Region          string    `json:"Region"`
	ClusterID       string    `json:"ClusterId,omitempty"`
	BackupState     string    `json:"BackupState"`
	HsmType         string    `json:"HsmType"`
	Mode            string    `json:"Mode"`
	NeverExpires    bool      `json:"NeverExpires"`
	CreateTimestamp string    `json:"CreateTimestamp"`
	DeleteTimestamp string    `json:"DeleteTimestamp,omitempty"`
	CopyTimestamp   string    `json:"CopyTimestamp,omitempty"`
	SourceRegion    string    `json:"SourceRegion,omitempty"`
	SourceBackup    string    `json:"SourceBackup,omitempty"`
	SourceCluster   string    `json:"SourceCluster,omitempty"`
	DueTimestamp    string    `json:"DueTimestamp,omitempty"`
	TagList         []tagJSON `json:"TagList"`
}

type policyJSON struct {
	BackupID string `json:"BackupId"`
	Policy   string `json:"Policy"`
}

// Conversions from store records, for the Writer.

func subnetOf(s store.Subnet) subnetJSON {
	return subnetJSON{Account: s.Account, Region: s.Region, SubnetID: s.ID, VpcID: s.VpcID, AvailabilityZone: s.AvailabilityZone}
}

func tagsOf(tags []store.Tag) []tagJSON {
	out := make([]tagJSON, len(tags))
	for i, t := range tags {
		out[i] = tagJSON(t)
	}
	return out
}

func clusterOf(c store.Cluster, tags []store.Tag) clusterJSON {
	out := clusterJSON{
		ClusterID: c.ID, Account: c.Account, Region: c.Region, State: c.State, StateMessage: c.StateMessage,
		HsmType: c.HsmType, Mode: c.Mode, NetworkType: c.NetworkType, BackupRetentionDays: c.RetentionDays,
		SourceBackupID: c.SourceBackupID, VpcID: c.VpcID, SecurityGroup: c.SecurityGroup, SubnetMapping: c.SubnetMapping,
		PreCoPassword: c.PreCoPassword, CreateTimestamp: formatTime(c.CreatedAt),
		HsmTypeRollbackExpiration: formatTime(c.HsmTypeRollbackAt), DueTimestamp: formatTime(c.DueAt),
		NextBackupTimestamp: formatTime(c.NextBackupAt), TagList: tagsOf(tags),
	}
	if c.Certificates != (store.Certificates{}) {
		certs := certificatesJSON(c.Certificates)
		out.Certificates = &certs
	}
	return out
}

func hsmOf(h store.HSM) hsmJSON {
	return hsmJSON{
		HsmID: h.ID, ClusterID: h.ClusterID, AvailabilityZone: h.AvailabilityZone, SubnetID: h.SubnetID, EniID: h.EniID,
		EniIP: h.EniIP, HsmType: h.HsmType, State: h.State, StateMessage: h.StateMessage,
		CreateTimestamp: formatTime(h.CreatedAt), DueTimestamp: formatTime(h.DueAt),
	}
}

func backupOf(b store.Backup) backupJSON {
	return backupJSON{
		BackupID: b.ID, Account: b.Account, Region: b.Region, ClusterID: b.ClusterID, BackupState: b.State,
		HsmType: b.HsmType, Mode: b.Mode, NeverExpires: b.NeverExpires, CreateTimestamp: formatTime(b.CreatedAt),
		DeleteTimestamp: formatTime(b.DeleteAt), CopyTimestamp: formatTime(b.CopiedAt), SourceRegion: b.SourceRegion,
		SourceBackup: b.SourceBackupID, SourceCluster: b.SourceClusterID, DueTimestamp: formatTime(b.DueAt),
		TagList: tagsOf(b.Tags),
	}
}

// checker checks the fields of one record at path, keeping the first problem.
type checker struct {
	path  string
	clock time.Time
	err   *Error
	memo  *memo
}

// memo remembers values already found valid that repeat from record to record (regions, HSM
// types, accounts), so that a document of a million backups does not match the same regular
// expression a million times. It holds at most memoSize values.
type memo struct{ valid map[string]bool }

const memoSize = 1024

// known reports whether kind:value was found valid before, else checks it with valid and
// remembers a valid one.
func (m *memo) known(kind, value string, valid func(string) bool) bool {
	key := kind + "\x00" + value
	if m.valid[key] {
		return true
	}
	if !valid(value) {
		return false
	}
	if len(m.valid) < memoSize {
		m.valid[key] = true
	}
	return true
}

// fail records a problem at the member of the record's path, unless one is recorded.
func (c *checker) fail(member, format string, args ...any) {
	if c.err == nil {
		path := c.path
		if member != "" {
			path += "." + member
		}
		c.err = Errorf(path, format, args...)
	}
}

// required checks that a member is not empty.
func (c *checker) required(member, v string) bool {
	if v == "" {
		c.fail(member, "is required")
		return false
	}
	return true
}

// id checks a required member against a model pattern (BackupId, ClusterId, HsmId, ...).
func (c *checker) id(member, v, shape string, valid func(string) bool) {
	if c.required(member, v) && !valid(v) {
		c.fail(member, "%q is not a %s (the model's pattern)", api.Clip(v), shape)
	}
}

// optionalID is id for a member that may be absent.
func (c *checker) optionalID(member, v, shape string, valid func(string) bool) {
	if v != "" {
		c.id(member, v, shape, valid)
	}
}

// account checks a 12-digit account id.
func (c *checker) account(member, v string) {
	if c.required(member, v) && !c.memo.known("account", v, api.IsAccountID) {
		c.fail(member, "%q is not a 12-digit account id", api.Clip(v))
	}
}

// region checks a region name.
func (c *checker) region(member, v string) {
	if c.required(member, v) && !c.memo.known("region", v, api.IsRegion) {
		c.fail(member, "%q is not a region such as us-east-1", api.Clip(v))
	}
}

// enum checks a required member against the values of an enum.
func (c *checker) enum(member, v, name string, values []string) {
	if c.required(member, v) && !slices.Contains(values, v) {
		c.fail(member, "%q is not a %s (one of %s)", api.Clip(v), name, strings.Join(values, ", "))
	}
}

// hsmType checks an HSM type's format (which types are supported is the service's rule).
func (c *checker) hsmType(member, v string) {
	if c.required(member, v) && !c.memo.known("hsmType", v, api.IsHsmType) {
		c.fail(member, "%q is not an HSM type such as hsm2m.medium", api.Clip(v))
	}
}

// time parses an optional time member: RFC 3339, at most millisecond precision. notAfterClock
// refuses one after the document's clock (something that has happened).
func (c *checker) time(member, v string, notAfterClock bool) time.Time {
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	switch {
	case err != nil:
		c.fail(member, "%q is not an RFC 3339 time such as 2026-03-01T09:00:00.000Z", api.Clip(v))
	case t.Nanosecond()%int(time.Millisecond) != 0:
		c.fail(member, "%s is more precise than a millisecond (the store keeps milliseconds)", v)
	case notAfterClock && t.After(c.clock):
		c.fail(member, "%s is after the document's Clock %s: it cannot have happened yet", v, formatTime(c.clock))
	}
	return t.UTC()
}

// requiredTime is time for a required member.
func (c *checker) requiredTime(member, v string, notAfterClock bool) time.Time {
	if !c.required(member, v) {
		return time.Time{}
	}
	return c.time(member, v, notAfterClock)
}

// tags checks a resource's TagList against the model (as TagResource would) and its order, and
// converts it.
func (c *checker) tags(resourceID string, list []tagJSON) []store.Tag {
	if len(list) == 0 {
		return nil
	}
	in := &api.TagResourceRequest{ResourceId: &resourceID, TagList: make([]api.Tag, len(list))}
	out := make([]store.Tag, len(list))
	for i, t := range list {
		in.TagList[i] = api.Tag{Key: &list[i].Key, Value: &list[i].Value}
		out[i] = store.Tag(t)
		if i > 0 && t.Key <= list[i-1].Key {
			c.fail(fmt.Sprintf("TagList[%d].Key", i), "%q comes after %q: tags must be in key order (as export writes them), each key once", api.Clip(t.Key), api.Clip(list[i-1].Key))
		}
	}
	if err := in.Validate(); err != nil {
		c.fail("TagList", "%s", api.AsError(err).Message)
	}
	return out
}

// Conversions to store records, checking every field. A record's identity fields come first so
// the first problem found is the most basic.

func (c *checker) subnet(j subnetJSON) store.Subnet {
	c.account("Account", j.Account)
	c.region("Region", j.Region)
	c.id("SubnetId", j.SubnetID, "SubnetId", api.IsSubnetId)
	c.required("VpcId", j.VpcID)
	c.id("AvailabilityZone", j.AvailabilityZone, "availability zone", api.IsExternalAz)
	return store.Subnet{Account: j.Account, Region: j.Region, ID: j.SubnetID, VpcID: j.VpcID, AvailabilityZone: j.AvailabilityZone}
}

func (c *checker) identity(j identityJSON) (string, store.Certificates) {
	c.id("ClusterId", j.ClusterID, "ClusterId", api.IsClusterId)
	if j.Certificates == (certificatesJSON{}) {
		c.fail("Certificates", "is required: a cluster identity is its certificates and key")
	}
	return j.ClusterID, store.Certificates(j.Certificates)
}

func (c *checker) cluster(j clusterJSON) (store.Cluster, []store.Tag) {
	c.id("ClusterId", j.ClusterID, "ClusterId", api.IsClusterId)
	c.account("Account", j.Account)
	c.region("Region", j.Region)
	c.enum("State", j.State, "cluster state", api.ClusterStateValues())
	c.hsmType("HsmType", j.HsmType)
	c.enum("Mode", j.Mode, "cluster mode", api.ClusterModeValues())
	c.enum("NetworkType", j.NetworkType, "network type", api.NetworkTypeValues())
	c.optionalID("SourceBackupId", j.SourceBackupID, "BackupId", api.IsBackupId)
	c.required("VpcId", j.VpcID)
	c.required("SecurityGroup", j.SecurityGroup)
	for _, az := range slices.Sorted(maps.Keys(j.SubnetMapping)) {
		c.id("SubnetMapping."+az, az, "availability zone", api.IsExternalAz)
		c.id("SubnetMapping."+az, j.SubnetMapping[az], "SubnetId", api.IsSubnetId)
	}
	out := store.Cluster{
		ID: j.ClusterID, Account: j.Account, Region: j.Region, State: j.State, StateMessage: j.StateMessage,
		HsmType: j.HsmType, Mode: j.Mode, NetworkType: j.NetworkType, RetentionDays: j.BackupRetentionDays,
		SourceBackupID: j.SourceBackupID, VpcID: j.VpcID, SecurityGroup: j.SecurityGroup, SubnetMapping: j.SubnetMapping,
		PreCoPassword:     j.PreCoPassword,
		CreatedAt:         c.requiredTime("CreateTimestamp", j.CreateTimestamp, true),
		HsmTypeRollbackAt: c.time("HsmTypeRollbackExpiration", j.HsmTypeRollbackExpiration, false),
		DueAt:             c.time("DueTimestamp", j.DueTimestamp, false),
		NextBackupAt:      c.time("NextBackupTimestamp", j.NextBackupTimestamp, false),
		Version:           1,
	}
	if j.Certificates != nil {
		out.Certificates = store.Certificates(*j.Certificates)
	}
	return out, c.tags(j.ClusterID, j.TagList)
}

func (c *checker) hsm(j hsmJSON) store.HSM {
	c.id("HsmId", j.HsmID, "HsmId", api.IsHsmId)
	c.id("ClusterId", j.ClusterID, "ClusterId", api.IsClusterId)
	c.id("AvailabilityZone", j.AvailabilityZone, "availability zone", api.IsExternalAz)
	c.id("SubnetId", j.SubnetID, "SubnetId", api.IsSubnetId)
	c.id("EniId", j.EniID, "EniId", api.IsEniId)
	c.id("EniIp", j.EniIP, "IPv4 address", api.IsIpAddress)
	c.hsmType("HsmType", j.HsmType)
	c.enum("State", j.State, "HSM state", api.HsmStateValues())
	return store.HSM{
		ID: j.HsmID, ClusterID: j.ClusterID, AvailabilityZone: j.AvailabilityZone, SubnetID: j.SubnetID, EniID: j.EniID,
		EniIP: j.EniIP, HsmType: j.HsmType, State: j.State, StateMessage: j.StateMessage,
		CreatedAt: c.requiredTime("CreateTimestamp", j.CreateTimestamp, true),
		DueAt:     c.time("DueTimestamp", j.DueTimestamp, false),
	}
}

// backup checks a backup, with the rules of BEHAVIOUR.md §4 that one record shows: a region
// copy has CopyTimestamp, SourceRegion and SourceBackup and no ClusterId, any other backup a
// ClusterId and none of those; DeleteTimestamp is there exactly in PENDING_DELETION and
// DELETED, and a DELETED backup's has passed.
func (c *checker) backup(j backupJSON) store.Backup {
	c.id("BackupId", j.BackupID, "BackupId", api.IsBackupId)
	c.account("Account", j.Account)
	c.region("Region", j.Region)
	c.enum("BackupState", j.BackupState, "backup state", api.BackupStateValues())
	c.hsmType("HsmType", j.HsmType)
	c.enum("Mode", j.Mode, "cluster mode", api.ClusterModeValues())
	if j.CopyTimestamp != "" {
		if j.ClusterID != "" {
			c.fail("ClusterId", "is set on a region copy (it has CopyTimestamp): a copy belongs to no cluster")
		}
		c.region("SourceRegion", j.SourceRegion)
		if j.SourceRegion == j.Region {
			c.fail("SourceRegion", "%q is the copy's own region", j.SourceRegion)
		}
		c.id("SourceBackup", j.SourceBackup, "BackupId", api.IsBackupId)
		c.optionalID("SourceCluster", j.SourceCluster, "ClusterId", api.IsClusterId)
	} else {
		c.id("ClusterId", j.ClusterID, "ClusterId", api.IsClusterId)
		for _, m := range []struct{ member, value string }{
			{"SourceRegion", j.SourceRegion}, {"SourceBackup", j.SourceBackup}, {"SourceCluster", j.SourceCluster},
		} {
			if m.value != "" {
				c.fail(m.member, "is set on a backup that is not a region copy (it has no CopyTimestamp)")
			}
		}
	}
	created := c.requiredTime("CreateTimestamp", j.CreateTimestamp, true)
	deleteAt := c.time("DeleteTimestamp", j.DeleteTimestamp, j.BackupState == api.BackupStateDeleted)
	pending := j.BackupState == api.BackupStatePendingDeletion || j.BackupState == api.BackupStateDeleted
	switch {
	case pending && j.DeleteTimestamp == "":
		c.fail("DeleteTimestamp", "is required in state %s", j.BackupState)
	case !pending && j.DeleteTimestamp != "":
		c.fail("DeleteTimestamp", "is set in state %s: only PENDING_DELETION and DELETED backups have one", api.Clip(j.BackupState))
	}
	copied := c.time("CopyTimestamp", j.CopyTimestamp, true)
	if !copied.IsZero() && copied.Before(created) {
		c.fail("CopyTimestamp", "%s is before the CreateTimestamp %s (a copy keeps its source's)", j.CopyTimestamp, j.CreateTimestamp)
	}
	return store.Backup{
		ID: j.BackupID, Account: j.Account, Region: j.Region, ClusterID: j.ClusterID, State: j.BackupState,
		HsmType: j.HsmType, Mode: j.Mode, NeverExpires: j.NeverExpires, CreatedAt: created, DeleteAt: deleteAt,
		CopiedAt: copied, SourceRegion: j.SourceRegion, SourceBackupID: j.SourceBackup, SourceClusterID: j.SourceCluster,
		DueAt: c.time("DueTimestamp", j.DueTimestamp, false), Version: 1, Tags: c.tags(j.BackupID, j.TagList),
	}
}

func (c *checker) policy(j policyJSON) (string, string) {
	c.id("BackupId", j.BackupID, "BackupId", api.IsBackupId)
	if c.required("Policy", j.Policy) {
		if err := (&api.PutResourcePolicyRequest{Policy: &j.Policy}).Validate(); err != nil {
			c.fail("Policy", "%s", api.AsError(err).Message)
		}
	}
	return j.BackupID, j.Policy
}

func (c *checker) retiredID(id string) string {
	if c.required("", id) && !api.IsBackupId(id) && !api.IsClusterId(id) && !api.IsHsmId(id) {
		c.fail("", "%q is not the ID of a backup, cluster or HSM", api.Clip(id))
	}
	return id
}
