package api

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestBoundMessage: whatever the message, its JSON encoding fits MaxMessageJSONBytes, a message
// within the bound is unchanged, and a cut one says how much was cut.
func TestBoundMessage(t *testing.T) {
	tests := []struct {
		name   string
		msg    string
		intact bool
	}{
		{"short", "Backup backup-abcdefghijk not found.", true},
		{"exactly at the budget in ASCII", strings.Repeat("a", MaxMessageJSONBytes-64), true},
		{"long ASCII", strings.Repeat("a", 1<<20), false},
		{"characters encoding/json escapes as \\u00XX", strings.Repeat("<>&\x01", 100000), false},
		{"quotes and backslashes", strings.Repeat(`"\`, 100000), false},
		{"multi-byte characters", strings.Repeat("語", 100000), false},
		{"invalid UTF-8", strings.Repeat("\xff", 100000), false},
		{"line and paragraph separators", strings.Repeat("\u2028\u2029", 100000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BoundMessage(tt.msg)
			raw, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) > MaxMessageJSONBytes {
				t.Fatalf("JSON of %d bytes, bound %d", len(raw), MaxMessageJSONBytes)
			}
			if tt.intact != (got == tt.msg) {
				t.Fatalf("intact = %t, want %t (%d bytes of %d kept)", got == tt.msg, tt.intact, len(got), len(tt.msg))
			}
			if !tt.intact && !strings.HasSuffix(got, " more bytes)") {
				t.Fatalf("a cut message should end with the count of bytes cut: %q", got[max(0, len(got)-40):])
			}
			if utf8.ValidString(tt.msg) && !utf8.ValidString(got) {
				t.Fatal("the cut split a character")
			}
		})
	}
}

// TestValidationErrorListsAHandful: the message lists MaxViolations violations and counts the rest.
func TestValidationErrorListsAHandful(t *testing.T) {
	var vs Violations
	for range 80000 {
		vs.Null("backupId")
	}
	msg := vs.Err().Error()
	if !strings.HasPrefix(msg, "80000 validation errors detected: ") || !strings.HasSuffix(msg, "; and 79995 more") {
		t.Fatalf("message %.200q ... %q", msg, msg[len(msg)-40:])
	}
	if n := strings.Count(msg, "Member must not be null"); n != MaxViolations {
		t.Fatalf("%d violations listed, want %d", n, MaxViolations)
	}
	var one Violations
	one.Null("backupId")
	if got := one.Err().Error(); got != "1 validation error detected: Value null at 'backupId' failed to satisfy constraint: Member must not be null" {
		t.Fatalf("one violation: %q", got)
	}
}

// TestQuotedValuesAreClipped: a constraint message quotes at most 1024 bytes of a value, be it a
// string, a list or a map.
func TestQuotedValuesAreClipped(t *testing.T) {
	long := strings.Repeat("x", 5000)
	var vs Violations
	vs.StringLength("value", long, 0, 256)
	list := strings.Split(strings.Repeat(long+",", 4999)+long, ",")
	vs.ListLength("tagList", len(list), 1, 50, func() string { return listString(list) })
	m := map[string][]string{}
	for i := range 5000 {
		m[strconv.Itoa(i)+long] = []string{long}
	}
	vs.ListLength("filters", len(m), 0, 30, func() string { return mapString(m) })
	msg := vs.Err().Error()
	if strings.Contains(msg, strings.Repeat("x", 1025)) || len(msg) > 3*1024+600 {
		t.Fatalf("a message of %d bytes quotes more than 1024 bytes of a value", len(msg))
	}
	short := []string{"subnet-00000000000000001", "subnet-00000000000000002", "subnet-00000000000000003"}
	if got := listString(short); got != "[subnet-00000000000000001, subnet-00000000000000002, subnet-00000000000000003]" {
		t.Fatalf("a short list is shown whole, as AWS shows it: %s", got)
	}
}

// TestJSONProblem: a decoding error is described by position and member, never by content.
func TestJSONProblem(t *testing.T) {
	type doc struct {
		Secret string `json:"secret"`
	}
	decodeStrict := func(s string) error {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		var d doc
		return dec.Decode(&d)
	}
	tests := []struct{ name, in, want string }{
		{"syntax", `{"secret":"hunter2" x}`, "invalid JSON at byte 21"},
		{"type", `{"secret":12345678}`, "secret cannot be a JSON number"},
		{"top-level type", `["hunter2"]`, "the value at byte 1 cannot be a JSON array"},
		{"empty", ``, "the document is empty"},
		{"cut short", `{"secret":"hun`, "invalid JSON: the document ends too early"},
		{"unknown member", `{"secrets":"hunter2"}`, `unknown member "secrets"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JSONProblem(decodeStrict(tt.in))
			if got != tt.want || strings.Contains(got, "hunter2") {
				t.Fatalf("JSONProblem = %q, want %q", got, tt.want)
			}
		})
	}
}
