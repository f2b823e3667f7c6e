package snapshot

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// Writer writes a document record by record: Begin, then the records kind after kind in the
// document's order (Subnet, ClusterIdentity, Cluster, HSM, Backup, ResourcePolicy, RetiredID),
// each kind in its section's order, then End. Every section is written, empty or not, so a
// document always has every member. Output is buffered: nothing is complete before End.
//
// The layout is one record per line, so that documents diff and grep well:
//
//	{"Version":1,
//	"Clock":"2026-03-01T09:00:00.000Z",
//	"Subnets":[
//	{"Account":"111122223333",...},
//	{"Account":"111122223333",...}],
//	...
//	"RetiredIds":[]}
type Writer struct {
	w       *bufio.Writer
	buf     bytes.Buffer // one record's JSON
	enc     *json.Encoder
	section int  // index in sections of the open section; -1 before the first
	records bool // the open section has a record
	err     error
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer {
	wr := &Writer{w: bufio.NewWriterSize(w, 64<<10), section: -1}
	wr.enc = json.NewEncoder(&wr.buf)
	wr.enc.SetEscapeHTML(false)
	return wr
}

// Begin writes the version and the header.
func (w *Writer) Begin(h Header) error {
	w.write(`{"` + memberVersion + `":` + strconv.Itoa(Version) + ",\n")
	w.member(memberClock, formatTime(h.Clock))
	if h.HardwareCA != "" {
		w.member(memberHardwareCA, h.HardwareCA)
	}
	return w.err
}

// member writes "name":value, for a string value, and a line break.
func (w *Writer) member(name, value string) {
	w.buf.Reset()
	if err := w.enc.Encode(value); err != nil && w.err == nil {
		w.err = err
	}
	w.write(`"` + name + `":`)
	w.write(string(bytes.TrimSuffix(w.buf.Bytes(), []byte("\n"))) + ",\n")
}

// write writes s unless an earlier write failed.
func (w *Writer) write(s string) {
	if w.err == nil {
		_, w.err = w.w.WriteString(s)
	}
}

// open moves to the section of name, writing the sections before it that were not written. A
// kind written after a later one is a bug of the caller.
func (w *Writer) open(name string) {
	target := -1
	for i, s := range sections {
		if s == name {
			target = i
		}
	}
	if target < w.section && w.err == nil {
		w.err = fmt.Errorf("snapshot: %s written after %s", name, sections[w.section])
	}
	for w.section < target {
		if w.section >= 0 {
			w.write("],\n")
		}
		w.section++
		w.records = false
		w.write(`"` + sections[w.section] + `":[`)
	}
}

// record writes one record of the section name.
func (w *Writer) record(name string, v any) error {
	w.open(name)
	w.buf.Reset()
	if err := w.enc.Encode(v); err != nil && w.err == nil {
		w.err = fmt.Errorf("snapshot: encode a record of %s: %w", name, err)
	}
	if w.records {
		w.write(",")
	}
	w.write("\n")
	if w.err == nil {
		_, w.err = w.w.Write(bytes.TrimSuffix(w.buf.Bytes(), []byte("\n")))
	}
	w.records = true
	return w.err
}

// Subnet writes a subnet.
func (w *Writer) Subnet(s store.Subnet) error { return w.record(memberSubnets, subnetOf(s)) }

// ClusterIdentity writes a cluster identity.
func (w *Writer) ClusterIdentity(clusterID string, c store.Certificates) error {
	return w.record(memberClusterIdentities, identityJSON{ClusterID: clusterID, Certificates: certificatesJSON(c)})
}

// Cluster writes a cluster with its tags.
func (w *Writer) Cluster(c store.Cluster, tags []store.Tag) error {
	return w.record(memberClusters, clusterOf(c, tags))
}

// HSM writes an HSM.
func (w *Writer) HSM(h store.HSM) error { return w.record(memberHSMs, hsmOf(h)) }

// Backup writes a backup with its Tags.
func (w *Writer) Backup(b store.Backup) error { return w.record(memberBackups, backupOf(b)) }

// ResourcePolicy writes a backup's resource policy: its document (the grants follow from it).
func (w *Writer) ResourcePolicy(p store.Policy) error {
	return w.record(memberResourcePolicies, policyJSON{BackupID: p.BackupID, Policy: p.Document})
}

// RetiredID writes the ID of a purged resource.
func (w *Writer) RetiredID(id string) error { return w.record(memberRetiredIDs, id) }

// End writes the sections not written yet, closes the document and flushes it.
func (w *Writer) End() error {
	w.open(sections[len(sections)-1])
	w.write("]}\n")
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}
