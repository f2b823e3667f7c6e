package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// Sink receives the records of a document as Read checks them, in document order, each with its
// JSON path. An error a Sink returns stops Read and is returned unchanged; a Sink that refuses a
// record for a rule of its own (a reference, an operation's rule) returns an *Error (Errorf)
// with the path it was given.
type Sink interface {
	// Header comes first, once the version and the clock are read (and HardwareCa, if the
	// document has one).
	Header(Header) error
	Subnet(path string, s store.Subnet) error
	ClusterIdentity(path string, clusterID string, c store.Certificates) error
	Cluster(path string, c store.Cluster, tags []store.Tag) error
	HSM(path string, h store.HSM) error
	Backup(path string, b store.Backup) error
	ResourcePolicy(path string, backupID, document string) error
	RetiredID(path string, id string) error
}

// MaxValueBytes bounds one value of a document (a record, or the hardware CA): a cluster with
// its certificates is about 10 KiB, a resource policy at most 20,000 characters. It bounds the
// memory a document can make Read use, whatever its size.
const MaxValueBytes = 1 << 20

// Read reads a document from r and hands its header and records to s, checking each on the
// way: the first problem stops it with an *Error naming the JSON path. It reads the whole
// document, and refuses anything after it. Records come out with Version 1.
//
// What Read checks: the document is one JSON object whose members come in the order Version,
// Clock, HardwareCa, Subnets, ClusterIdentities, Clusters, Hsms, Backups, ResourcePolicies,
// RetiredIds (Version and Clock required, the others optional), Version is 1, no member or
// field is unknown, every value has its JSON type, IDs, regions, accounts and the like have
// the model's formats, states and modes are the model's values, times are RFC 3339 to the
// millisecond and none that records something done (a creation, a copy, a deletion of a
// DELETED backup) is after Clock, each section is ordered by its key with each key once (as
// Writer writes them: subnets by account, region and ID, the others by ID), and a resource's
// tags are valid tags in key order.
func Read(r io.Reader, s Sink) error {
	br := &boundedReader{r: r}
	rd := &reader{br: br, dec: json.NewDecoder(br), sink: s, memo: &memo{valid: map[string]bool{}}}
	rd.dec.DisallowUnknownFields()
	return rd.document()
}

// boundedReader reads at most MaxValueBytes+1 bytes past mark, and then fails: the decoder holds
// what it has read of the value it decodes, so this bounds its memory, and a value of at most
// MaxValueBytes always fits.
type boundedReader struct {
	r          io.Reader
	read, mark int64
}

// errValueTooLarge is boundedReader's refusal.
var errValueTooLarge = errors.New("value too large")

func (b *boundedReader) Read(p []byte) (int, error) {
	left := MaxValueBytes + 1 - (b.read - b.mark)
	if left <= 0 {
		return 0, errValueTooLarge
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	return n, err
}

type reader struct {
	br   *boundedReader
	dec  *json.Decoder
	sink Sink
	memo *memo
	// clock is the document's Clock, once read.
	clock time.Time
}

// startValue bounds the next value to MaxValueBytes from here.
func (r *reader) startValue() { r.br.mark = r.dec.InputOffset() }

// jsonError turns a decoding failure at path into an *Error.
func (r *reader) jsonError(path string, err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.Is(err, errValueTooLarge):
		return Errorf(path, "a value is larger than %d bytes", MaxValueBytes)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(path, "the document ends too soon (at byte %d): it is cut off", r.dec.InputOffset())
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			path += "." + typeErr.Field
		}
		return Errorf(path, "a JSON %s cannot be a %s", typeErr.Value, jsonType(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr):
		return Errorf(path, "invalid JSON at byte %d: %s", syntaxErr.Offset, strings.TrimPrefix(syntaxErr.Error(), "json: "))
	}
	// Unknown fields (encoding/json gives them no type of their own), and read failures.
	return Errorf(path, "%s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonType names a Go kind as the JSON type it decodes from.
func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int64", "int32", "float64":
		return "number"
	case "slice":
		return "list"
	case "map", "struct", "ptr":
		return "object"
	}
	return kind
}

// token reads a delimiter or a member name at path.
func (r *reader) token(path string) (json.Token, error) {
	r.startValue()
	tok, err := r.dec.Token()
	if err != nil {
		return nil, r.jsonError(path, err)
	}
	return tok, nil
}

// expect reads the delimiter want at path.
func (r *reader) expect(path string, want json.Delim, what string) error {
	tok, err := r.token(path)
	if err != nil {
		return err
	}
	if tok != want {
		return Errorf(path, "must be %s, not %s", what, describe(tok))
	}
	return nil
}

// describe names a JSON token for a message.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' || v == '}' {
			return "an object"
		}
		return "a list"
	case string:
		return fmt.Sprintf("the string %q", api.Clip(v))
	case float64, json.Number:
		return fmt.Sprintf("the number %v", v)
	case bool:
		return fmt.Sprintf("%t", v)
	}
	return "null"
}

// decode reads one value at path into v.
func (r *reader) decode(path string, v any) error {
	r.startValue()
	if err := r.dec.Decode(v); err != nil {
		return r.jsonError(path, err)
	}
	return nil
}

// document reads the top-level object.
func (r *reader) document() error {
	if err := r.expect("$", '{', "a JSON object (a cloudhsm-local state document)"); err != nil {
		return err
	}
	next := 0 // index in members of the first member that may come
	var h Header
	headerDone := false
	for r.dec.More() {
		tok, err := r.token("$")
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		at := -1
		for i, m := range members {
			if m == name {
				at = i
			}
		}
		path := "$." + name
		switch {
		case at < 0:
			return Errorf(path, "unknown member: a version %d document has %s", Version, strings.Join(members, ", "))
		case at < next:
			return Errorf(path, "comes too late: the members must come in the order %s, each once", strings.Join(members, ", "))
		case at > 0 && next == 0:
			return Errorf("$", "the document must begin with Version, not %s", name)
		case at > 1 && next == 1:
			return Errorf("$", "Clock must come right after Version, before %s", name)
		}
		next = at + 1
		if at > 2 && !headerDone { // the first section: the header is complete
			if err := r.sink.Header(h); err != nil {
				return err
			}
			headerDone = true
		}
		if err := r.member(path, name, &h); err != nil {
			return err
		}
	}
	switch {
	case next == 0:
		return Errorf("$", "the document has no Version: it must begin with {\"Version\":%d, \"Clock\": ...", Version)
	case next == 1:
		return Errorf("$", "the document has no Clock: the virtual time it was taken at")
	}
	if !headerDone {
		if err := r.sink.Header(h); err != nil {
			return err
		}
	}
	if err := r.expect("$", '}', "the end of the document"); err != nil {
		return err
	}
	r.startValue()
	if _, err := r.dec.Token(); !errors.Is(err, io.EOF) {
		return Errorf("$", "there is something after the document (at byte %d): send one document", r.dec.InputOffset())
	}
	return nil
}

// member reads the value of one member of the document.
func (r *reader) member(path, name string, h *Header) error {
	switch name {
	case memberVersion:
		var v json.RawMessage
		if err := r.decode(path, &v); err != nil {
			return err
		}
		if string(v) != fmt.Sprint(Version) {
			return Errorf(path, "%s is not a version this server reads: it reads version %d (export from this version)", api.Clip(string(v)), Version)
		}
		return nil
	case memberClock:
		var v string
		if err := r.decode(path, &v); err != nil {
			return err
		}
		c := checker{path: path, memo: r.memo}
		h.Clock = c.requiredTime("", v, false)
		r.clock = h.Clock
		if c.err != nil {
			return c.err
		}
		return nil
	case memberHardwareCA:
		if err := r.decode(path, &h.HardwareCA); err != nil {
			return err
		}
		if h.HardwareCA == "" {
			return Errorf(path, "is empty: leave the member out when there is no hardware CA")
		}
		return nil
	}
	return r.section(path, name)
}

// section reads a list of records and hands them to the sink, checking their order.
func (r *reader) section(path, name string) error {
	if err := r.expect(path, '[', "a list"); err != nil {
		return err
	}
	var prev string // the key of the previous record
	for i := 0; r.dec.More(); i++ {
		at := fmt.Sprintf("%s[%d]", path, i)
		key, keyMember, deliver, err := r.record(at, name)
		if err != nil {
			return err
		}
		if i > 0 && key <= prev {
			rule := "comes after"
			if key == prev {
				rule = "is also"
			}
			return Errorf(at+keyMember, "%s %s the record before: the records must be in the order export writes them (%s), each once",
				strings.ReplaceAll(key, "\x00", " "), rule, orderOf(name))
		}
		if err := deliver(); err != nil {
			return err
		}
		prev = key
	}
	return r.expect(path, ']', "the end of the list")
}

// orderOf says how a section is ordered.
func orderOf(section string) string {
	if section == memberSubnets {
		return "by Account, Region and SubnetId"
	}
	return "by ID, in byte order"
}

// record reads the record at path of a section and checks it. It returns the record's order key,
// the member that holds it (for messages), and what hands the record to the sink.
func (r *reader) record(path, section string) (key, keyMember string, deliver func() error, err error) {
	c := &checker{path: path, clock: r.clock, memo: r.memo}
	switch section {
	case memberSubnets:
		var j subnetJSON
		if err := r.decode(path, &j); err != nil {
			return "", "", nil, err
		}
		s := c.subnet(j)
		key, keyMember = s.Account+"\x00"+s.Region+"\x00"+s.ID, ""
		deliver = func() error { return r.sink.Subnet(path, s) }
	case memberClusterIdentities:
		var j identityJSON
		if err := r.decode(path, &j); err != nil {
			return "", "", nil, err
		}
		id, certs := c.identity(j)
		key, keyMember = id, ".ClusterId"
		deliver = func() error { return r.sink.ClusterIdentity(path, id, certs) }
	case memberClusters:
		var j clusterJSON
		if err := r.decode(path, &j); err != nil {
			return "", "", nil, err
		}
		cl, tags := c.cluster(j)
		key, keyMember = cl.ID, ".ClusterId"
		deliver = func() error { return r.sink.Cluster(path, cl, tags) }
	case memberHSMs:
		var j hsmJSON
		if err := r.decode(path, &j); err != nil {
			return "", "", nil, err
		}
		h := c.hsm(j)
		key, keyMember = h.ID, ".HsmId"
		deliver = func() error { return r.sink.HSM(path, h) }
	case memberBackups:
		var j backupJSON
		if err := r.decode(path, &j); err != nil {
			return "", "", nil, err
		}
		b := c.backup(j)
		key, keyMember = b.ID, ".BackupId"
		deliver = func() error { return r.sink.Backup(path, b) }
	case memberResourcePolicies:
		var j policyJSON
		if err := r.decode(path, &j); err != nil {
			return "", "", nil, err
		}
		backupID, doc := c.policy(j)
		key, keyMember = backupID, ".BackupId"
		deliver = func() error { return r.sink.ResourcePolicy(path, backupID, doc) }
	case memberRetiredIDs:
		var id string
		if err := r.decode(path, &id); err != nil {
			return "", "", nil, err
		}
		key = c.retiredID(id)
		deliver = func() error { return r.sink.RetiredID(path, id) }
	}
	if c.err != nil {
		return "", "", nil, c.err
	}
	return key, keyMember, deliver, nil
}
