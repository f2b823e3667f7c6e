package history

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// ring returns a Ring of capacity holding requests "r0", "r1", ... (oldest first), each made
// by made(i).
func ring(t *testing.T, capacity, n int, made func(i int) Request) *Ring {
	t.Helper()
	r, err := New(capacity)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		req := made(i)
		req.RequestID = fmt.Sprintf("r%d", i)
		r.Add(req)
	}
	return r
}

// requestIDs lists the RequestIDs of reqs in order.
func requestIDs(reqs []Request) []string {
	ids := []string{}
	for _, r := range reqs {
		ids = append(ids, r.RequestID)
	}
	return ids
}

// plain makes requests that differ only by their ID.
func plain(int) Request { return Request{Operation: "DescribeBackups", Status: 200} }

func TestRingKeepsTheLastRequestsNewestFirst(t *testing.T) {
	tests := []struct {
		name          string
		capacity, add int
		want          []string
	}{
		{"empty", 3, 0, []string{}},
		{"not full", 3, 2, []string{"r1", "r0"}},
		{"full", 3, 3, []string{"r2", "r1", "r0"}},
		{"wrapped: the oldest are forgotten", 3, 7, []string{"r6", "r5", "r4"}},
		{"capacity 1", 1, 5, []string{"r4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ring(t, tt.capacity, tt.add, plain)
			if got := requestIDs(r.Query(Filter{})); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			if r.Capacity() != tt.capacity {
				t.Fatalf("Capacity %d, want %d", r.Capacity(), tt.capacity)
			}
		})
	}
}

func TestQueryFilters(t *testing.T) {
	// r0..r5: operations, accounts, regions and errors in turn.
	kinds := []Request{
		{Operation: "DeleteBackup", Account: "111111111111", Region: "us-east-1", Status: 200},
		{Operation: "RestoreBackup", Account: "111111111111", Region: "us-east-1", Status: 400, Error: "CloudHsmInvalidRequestException"},
		{Operation: "RestoreBackup", Account: "222222222222", Region: "eu-west-1", Status: 200},
		{Operation: "DescribeBackups", Account: "111111111111", Region: "eu-west-1", Status: 500, Error: "CloudHsmInternalFailureException"},
		{Status: 400, Error: "MissingAuthenticationTokenException"},
		{Operation: "RestoreBackup", Account: "111111111111", Region: "us-east-1", Status: 200},
	}
	r := ring(t, 10, len(kinds), func(i int) Request { return kinds[i] })
	tests := []struct {
		name   string
		filter Filter
		want   []string
	}{
		{"no filter: everything, newest first", Filter{}, []string{"r5", "r4", "r3", "r2", "r1", "r0"}},
		{"operation", Filter{Operation: "RestoreBackup"}, []string{"r5", "r2", "r1"}},
		{"account", Filter{Account: "111111111111"}, []string{"r5", "r3", "r1", "r0"}},
		{"region", Filter{Region: "eu-west-1"}, []string{"r3", "r2"}},
		{"an error name", Filter{Error: "CloudHsmInvalidRequestException"}, []string{"r1"}},
		{"any error", Filter{Error: AnyError}, []string{"r4", "r3", "r1"}},
		{"fields together must all match", Filter{Operation: "RestoreBackup", Account: "111111111111", Error: AnyError}, []string{"r1"}},
		{"limit counts matches, newest first", Filter{Operation: "RestoreBackup", Limit: 2}, []string{"r5", "r2"}},
		{"a limit over the matches", Filter{Limit: 100}, []string{"r5", "r4", "r3", "r2", "r1", "r0"}},
		{"nothing matches", Filter{Operation: "CreateHsm"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.filter.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := requestIDs(r.Query(tt.filter)); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFilterValidate(t *testing.T) {
	tests := []struct {
		name   string
		filter Filter
		want   string // part of the message; "" for valid
	}{
		{"empty is valid", Filter{}, ""},
		{"every field valid", Filter{Operation: "RestoreBackup", Account: "111122223333", Region: "us-gov-west-1", Error: "ThrottlingException", Limit: MaxCapacity}, ""},
		{"any error", Filter{Error: "*"}, ""},
		{"an unknown operation", Filter{Operation: "restoreBackup"}, `operation "restoreBackup" is not an operation of the API (one of CopyBackupToRegion, `},
		{"an account of 11 digits", Filter{Account: "11112222333"}, `account "11112222333" is not a 12-digit account id`},
		{"an account with letters", Filter{Account: "11112222333a"}, "is not a 12-digit account id"},
		{"a region", Filter{Region: "us-east"}, `region "us-east" is not a region such as us-east-1`},
		{"an error that is not a name", Filter{Error: "Cloud Hsm"}, `error "Cloud Hsm" is not an error name such as CloudHsmInvalidRequestException (or * for any error)`},
		{"an error name without Exception", Filter{Error: "Throttling"}, "is not an error name"},
		{"a negative limit", Filter{Limit: -1}, "limit -1 is not from 1 to 10000"},
		{"a limit over the most a ring holds", Filter{Limit: MaxCapacity + 1}, "limit 10001 is not from 1 to 10000"},
		{"every problem at once", Filter{Operation: "x", Account: "y", Region: "z", Error: "w", Limit: -5}, "operation \"x\""},
		{"a long value is clipped", Filter{Operation: strings.Repeat("o", 5000)}, strings.Repeat("o", 1024) + `..." is not`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.filter.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate: %v, want a message with %q", err, tt.want)
			}
		})
	}
	err := Filter{Operation: "x", Account: "y", Region: "z", Error: "w", Limit: -5}.Validate()
	if n := strings.Count(err.Error(), "; "); n != 4 {
		t.Fatalf("every problem at once: %d separators in %q, want 4", n, err)
	}
}

func TestNewRefusesCapacitiesOutOfBounds(t *testing.T) {
	for _, c := range []int{-1, 0, MaxCapacity + 1} {
		if r, err := New(c); err == nil || r != nil || !strings.Contains(err.Error(), "want 1 to 10000 (0 turns the history off)") {
			t.Errorf("New(%d) = %v, %v", c, r, err)
		}
	}
	for _, c := range []int{1, DefaultCapacity, MaxCapacity} {
		if _, err := New(c); err != nil {
			t.Errorf("New(%d): %v", c, err)
		}
	}
}

func TestClearForgetsEverything(t *testing.T) {
	r := ring(t, 3, 5, plain)
	if n := r.Clear(); n != 3 {
		t.Fatalf("Clear returned %d, want 3", n)
	}
	if got := r.Query(Filter{}); len(got) != 0 {
		t.Fatalf("after Clear: %v", requestIDs(got))
	}
	r.Add(Request{RequestID: "after"})
	if got := requestIDs(r.Query(Filter{})); !slices.Equal(got, []string{"after"}) {
		t.Fatalf("after Clear and Add: %v", got)
	}
}

// TestConcurrentUse: Add, Query and Clear from many goroutines at once (run with -race); every
// answer is newest first, so IDs of one writer decrease.
func TestConcurrentUse(t *testing.T) {
	r := ring(t, 50, 0, plain)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 500 {
				r.Add(Request{RequestID: fmt.Sprintf("w%d-%04d", w, i)})
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 200 {
				last := map[string]string{}
				for _, req := range r.Query(Filter{Limit: 20}) {
					writer, seq, _ := strings.Cut(req.RequestID, "-")
					if prev, ok := last[writer]; ok && seq >= prev {
						t.Errorf("%s after %s-%s: not newest first", req.RequestID, writer, prev)
						return
					}
					last[writer] = seq
				}
				if i%50 == 0 {
					r.Clear()
				}
			}
		}()
	}
	wg.Wait()
}
