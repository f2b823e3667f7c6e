package main

import (
	"context"
	"strings"
	"testing"
)

// TestFaultsSubcommand drives "cloudhsm-local faults" against a server: add by flags and by
// JSON, list with remaining counts, health's count, clear; refused rules exit 1 with the
// server's reason, malformed command lines exit 2.
func TestFaultsSubcommand(t *testing.T) {
	ctx := context.Background()
	getenv := startAdminServer(t, nil)
	ok := func(t *testing.T, args ...string) map[string]any { return runJSON(t, ctx, getenv, args...) }

	out := ok(t, "faults", "add", "--operation", "RestoreBackup", "--error", "CloudHsmInternalFailureException", "--count", "2")
	if jsonString(out) != `{"rule":{"applied":0,"count":2,"error":"CloudHsmInternalFailureException","id":1,"operation":"RestoreBackup","remaining":2}}` {
		t.Fatalf("add by flags printed %s", jsonString(out))
	}
	out = ok(t, "faults", "add", `{"operation":"*","latency":"250ms","probability":0.1}`)
	if jsonString(out) != `{"rule":{"applied":0,"id":2,"latency":"250ms","operation":"*","probability":0.1}}` {
		t.Fatalf("add by JSON printed %s", jsonString(out))
	}
	out = ok(t, "faults", "add", "--operation", "*", "--error", "ThrottlingException", "--probability", "0")
	if rule := out["rule"].(map[string]any); rule["probability"] != 0.0 {
		t.Fatalf("an explicit probability 0 was lost: %s", jsonString(out))
	}
	if out = ok(t, "faults"); len(out["rules"].([]any)) != 3 {
		t.Fatalf("faults printed %s", jsonString(out))
	}
	if out = ok(t, "faults", "list"); len(out["rules"].([]any)) != 3 {
		t.Fatalf("faults list printed %s", jsonString(out))
	}
	if out = ok(t, "health"); out["faults"] != 3.0 {
		t.Fatalf("health printed %s", jsonString(out))
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"faults", "add", "--operation", "Nope", "--error", "ThrottlingException"}, `operation "Nope" is not a CloudHSM v2 operation`},
		{[]string{"faults", "add", "--operation", "*", "--error", "ThrottlingException", "--count", "1", "--probability", "0.5"}, `give "probability" or "count", not both`},
		{[]string{"faults", "add", "--operation", "*"}, `a rule needs an "error"`},
	} {
		code, stdout, stderr := runCmd(ctx, getenv, tt.args...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "HTTP 400") || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", tt.args, code, stdout, stderr)
		}
	}
	for _, args := range [][]string{
		{"faults", "add", "--operation"},
		{"faults", "add", "--count", "x"},
		{"faults", "add", "--operation", "*", "extra"},
		{"faults", "add", `{"operation":"*","errors":"x"}`},
		{"faults", "list", "all"},
		{"faults", "drop"},
	} {
		if code, _, stderr := runCmd(ctx, getenv, args...); code != 2 || stderr == "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a usage message", args, code, stderr)
		}
	}

	if out = ok(t, "faults", "clear"); jsonString(out) != `{"cleared":3}` {
		t.Fatalf("faults clear printed %s", jsonString(out))
	}
	if out = ok(t, "faults"); jsonString(out) != `{"rules":[]}` {
		t.Fatalf("faults after clear printed %s", jsonString(out))
	}
}
