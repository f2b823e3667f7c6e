package console

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/history"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"time":  formatTime,
	"state": stateClass,
	"path":  func(p string) string { return Prefix + p },
}

// formatTime shows a time to the second in UTC (every time in the console is), or "—" for the
// zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// stateClass is the CSS class of a state's badge: the colour says how far along its life a
// resource is.
func stateClass(state string) string {
	switch {
	case state == "ACTIVE" || state == "READY" || state == "INITIALIZED":
		return "ok"
	case state == "PENDING_DELETION" || state == "UNINITIALIZED":
		return "warn"
	case state == "DELETED":
		return "gone"
	case state == "DEGRADED":
		return "bad"
	case strings.HasSuffix(state, "_IN_PROGRESS"):
		return "busy"
	}
	return "other"
}

// signedDuration shows a duration in days, hours, minutes and seconds with its sign, such as
// "+8d 0h 0m 1s".
func signedDuration(d time.Duration) string {
	sign, d := "+", d.Round(time.Second)
	if d < 0 {
		sign, d = "−", -d
	}
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	return fmt.Sprintf("%s%dd %dh %dm %ds", sign, days, d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second)
}

// deref returns *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// timeOf returns *t as a time.Time, the zero time for nil.
func timeOf(t *api.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time()
}

// writeJSON writes v as JSON; v is one of the console's own types, which always encode.
func writeJSON(w io.Writer, v any) {
	_ = json.NewEncoder(w).Encode(v)
}

// clusterRow is a cluster as the pages show it.
type clusterRow struct {
	ID, State, StateMessage, HsmType, Mode, VpcID, SecurityGroup, SourceBackup string
	Created                                                                    time.Time
	HSMs                                                                       int
	Link                                                                       string
}

func newClusterRow(sc scope, c api.Cluster) clusterRow {
	id := deref(c.ClusterId)
	return clusterRow{
		ID: id, State: deref(c.State), StateMessage: deref(c.StateMessage), HsmType: deref(c.HsmType),
		Mode: deref(c.Mode), VpcID: deref(c.VpcId), SecurityGroup: deref(c.SecurityGroup),
		SourceBackup: deref(c.SourceBackupId), Created: timeOf(c.CreateTimestamp), HSMs: len(c.Hsms),
		Link: sc.Link("clusters/" + id),
	}
}

// backupList is a list of backups with timelines on one shared axis, so that they compare.
type backupList struct {
	Rows []backupRow
	// Axis is the shared time axis in words, for the table's caption.
	From, To time.Time
}

// backupRow is a backup as the pages show it.
type backupRow struct {
	ID, State, ClusterID, HsmType, Mode                string
	SourceRegion, SourceBackup                         string
	NeverExpires                                       bool
	Created, Copied, DeleteTimestamp, Deleted, Expired time.Time
	Gone                                               time.Time
	Link, ClusterLink                                  string
	Timeline                                           timeline
	CanDelete, CanRestore                              bool
}

// backupList builds the rows of backups on one axis.
func (h *handler) backupList(sc scope, backups []api.Backup, now time.Time) backupList {
	evs := make([]events, len(backups))
	for i, b := range backups {
		evs[i] = h.events(b)
	}
	ax := axisFor(evs, now, 240)
	list := backupList{From: ax.from, To: ax.to}
	for _, b := range backups {
		list.Rows = append(list.Rows, h.newBackupRow(sc, b, now, ax))
	}
	return list
}

func (h *handler) newBackupRow(sc scope, b api.Backup, now time.Time, ax axis) backupRow {
	ev := h.events(b)
	id, cluster := deref(b.BackupId), deref(b.ClusterId)
	row := backupRow{
		ID: id, State: ev.state, ClusterID: cluster, HsmType: deref(b.HsmType), Mode: deref(b.Mode),
		SourceRegion: deref(b.SourceRegion), SourceBackup: deref(b.SourceBackup),
		NeverExpires: b.NeverExpires != nil && *b.NeverExpires,
		Created:      ev.created, Copied: timeOf(b.CopyTimestamp), DeleteTimestamp: ev.restorableUntil,
		Deleted: ev.deleted, Expired: ev.expired, Gone: ev.gone,
		Link:      sc.Link("backups/" + id),
		Timeline:  drawTimeline(ev, now, ax, false),
		CanDelete: ev.state == api.BackupStateReady, CanRestore: ev.state == api.BackupStatePendingDeletion,
	}
	if cluster != "" {
		row.ClusterLink = sc.Link("clusters/" + cluster)
	}
	return row
}

// certificate is one PEM of a cluster, with what its first block says.
type certificate struct {
	Name, PEM, FileName, Link string
	// Subject and Issuer are the certificate's (a CSR has only a Subject); empty when the PEM
	// does not parse.
	Subject, Issuer     string
	NotBefore, NotAfter time.Time
}

// certificates lists a cluster's PEMs in the order of the AWS console.
func certificates(sc scope, clusterID string, c *api.Certificates) []certificate {
	if c == nil {
		return nil
	}
	var out []certificate
	for _, pem := range []struct {
		name string
		pem  *string
	}{
		{"ClusterCsr", c.ClusterCsr},
		{"ClusterCertificate", c.ClusterCertificate},
		{"HsmCertificate", c.HsmCertificate},
		{"AwsHardwareCertificate", c.AwsHardwareCertificate},
		{"ManufacturerHardwareCertificate", c.ManufacturerHardwareCertificate},
	} {
		if deref(pem.pem) == "" {
			continue
		}
		cert := certificate{
			Name: pem.name, PEM: *pem.pem, FileName: clusterID + "-" + pem.name + ".pem",
			Link: sc.Link("clusters/" + clusterID + "/certificates/" + pem.name),
		}
		describe(&cert)
		out = append(out, cert)
	}
	return out
}

// describe fills a certificate's subject, issuer and validity from its first PEM block.
func describe(c *certificate) {
	block, _ := pem.Decode([]byte(c.PEM))
	if block == nil {
		return
	}
	switch block.Type {
	case "CERTIFICATE":
		if x, err := x509.ParseCertificate(block.Bytes); err == nil {
			c.Subject, c.Issuer, c.NotBefore, c.NotAfter = distinguishedName(x.Subject), distinguishedName(x.Issuer), x.NotBefore, x.NotAfter
		}
	case "CERTIFICATE REQUEST":
		if x, err := x509.ParseCertificateRequest(block.Bytes); err == nil {
			c.Subject = distinguishedName(x.Subject)
		}
	}
}

// attributeNames are the short names of the usual attributes of a distinguished name.
var attributeNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.5": "SERIALNUMBER", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
	"2.5.4.9": "STREET", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.17": "POSTALCODE",
}

// distinguishedName shows a name as "CN=…, O=…" in the certificate's order, with each value as
// it is: the page escapes it, so a value with markup is seen as text, exactly as its owner
// wrote it (pkix.Name.String would add RFC 4514 backslashes).
func distinguishedName(n pkix.Name) string {
	parts := make([]string, 0, len(n.Names))
	for _, atv := range n.Names {
		name, ok := attributeNames[atv.Type.String()]
		if !ok {
			name = atv.Type.String()
		}
		parts = append(parts, fmt.Sprintf("%s=%v", name, atv.Value))
	}
	return strings.Join(parts, ", ")
}

// requestRow is a request of the history as the page and its script show it.
type requestRow struct {
	Time        string `json:"time"` // the wall clock's time of day
	VirtualTime string `json:"virtualTime"`
	Operation   string `json:"operation"`
	Account     string `json:"account"`
	Region      string `json:"region"`
	AccessKeyID string `json:"accessKeyId"`
	Status      int    `json:"status"`
	Error       string `json:"error"`
	Duration    string `json:"duration"`
	Resources   string `json:"resources"`
	RequestID   string `json:"requestId"`
}

func newRequestRow(r history.Request) requestRow {
	return requestRow{
		Time: r.Time.UTC().Format("15:04:05.000"), VirtualTime: formatTime(r.VirtualTime), Operation: r.Operation,
		Account: r.Account, Region: r.Region, AccessKeyID: r.AccessKeyID, Status: r.Status, Error: r.Error,
		Duration: r.Duration.Round(time.Microsecond).String(), Resources: strings.Join(r.ResourceIDs, " "),
		RequestID: r.RequestID,
	}
}

// hsmRow is an HSM as the cluster page shows it.
type hsmRow struct {
	ID, State, Zone, Subnet, EniID, EniIP, HsmType string
}

func hsmRows(hsms []api.Hsm) []hsmRow {
	out := make([]hsmRow, len(hsms))
	for i, h := range hsms {
		out[i] = hsmRow{ID: deref(h.HsmId), State: deref(h.State), Zone: deref(h.AvailabilityZone), Subnet: deref(h.SubnetId),
			EniID: deref(h.EniId), EniIP: deref(h.EniIp), HsmType: deref(h.HsmType)}
	}
	return out
}

// tag is one tag of a resource.
type tag struct{ Key, Value string }

func tags(list []api.Tag) []tag {
	out := make([]tag, len(list))
	for i, t := range list {
		out[i] = tag{deref(t.Key), deref(t.Value)}
	}
	return out
}
