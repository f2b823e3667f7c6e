package faults

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
)

func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }

// seeded is a deterministic random source for tests.
func seeded() *Set { return New(rand.NewChaCha8([32]byte{1})) }

func TestAddRefusesInvalidRules(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		want string // part of the message
	}{
		{"operation is required", Rule{Error: "CloudHsmServiceException"}, `"operation" is required`},
		{"operation must be one of the 18", Rule{Operation: "RestoreBackups", Error: "CloudHsmServiceException"}, `operation "RestoreBackups" is not a CloudHSM v2 operation`},
		{"operation names are case-sensitive", Rule{Operation: "restoreBackup", Error: "CloudHsmServiceException"}, "is not a CloudHSM v2 operation"},
		{"error must be a model error or throttling", Rule{Operation: "*", Error: "ValidationException"}, `error "ValidationException" is not one the rule can inject`},
		{"the protocol's own errors are not injectable", Rule{Operation: "*", Error: "SerializationException"}, "is not one the rule can inject"},
		{"latency must parse", Rule{Operation: "*", Latency: "250"}, `latency "250" is not a Go duration`},
		{"latency must not be negative", Rule{Operation: "*", Latency: "-1s"}, "latency -1s is out of range"},
		{"latency is capped", Rule{Operation: "*", Latency: "31s"}, "latency 31s is out of range: it must be between 0s and 30s"},
		{"a rule must do something", Rule{Operation: "*"}, `a rule needs an "error", a non-zero "latency", or both`},
		{"a zero latency alone does nothing", Rule{Operation: "*", Latency: "0s"}, `a rule needs an "error"`},
		{"probability and count exclude each other", Rule{Operation: "*", Error: "ThrottlingException", Probability: f64(0.5), Count: i64(1)}, `give "probability" or "count", not both`},
		{"probability above 1", Rule{Operation: "*", Error: "ThrottlingException", Probability: f64(1.5)}, "probability 1.5 is out of range"},
		{"probability below 0", Rule{Operation: "*", Error: "ThrottlingException", Probability: f64(-0.1)}, "probability -0.1 is out of range"},
		{"probability NaN", Rule{Operation: "*", Error: "ThrottlingException", Probability: f64(math.NaN())}, "probability NaN is out of range"},
		{"count zero", Rule{Operation: "*", Error: "ThrottlingException", Count: i64(0)}, "count 0 is out of range: it must be at least 1"},
		{"count negative", Rule{Operation: "*", Error: "ThrottlingException", Count: i64(-3)}, "count -3 is out of range"},
		{"long input is clipped in the message", Rule{Operation: strings.Repeat("x", 10000), Error: "ThrottlingException"}, strings.Repeat("x", 64) + `..."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := seeded()
			_, err := s.Add(tt.rule)
			if !errors.Is(err, ErrInvalidRule) {
				t.Fatalf("Add(%+v) = %v, want ErrInvalidRule", tt.rule, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("message %q does not contain %q", err, tt.want)
			}
			if len(s.List()) != 0 {
				t.Fatal("a refused rule was added")
			}
		})
	}
}

func TestAddAcceptsEveryErrorNameAndOperation(t *testing.T) {
	s := seeded()
	for _, name := range ErrorNames() {
		if _, err := s.Add(Rule{Operation: "*", Error: name, Count: i64(1)}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if len(ErrorNames()) != 8 {
		t.Fatalf("want the model's 7 errors and ThrottlingException, got %v", ErrorNames())
	}
	if _, err := s.Add(Rule{Operation: "RestoreBackup", Latency: "250ms", Probability: f64(0.1)}); err != nil {
		t.Fatal(err)
	}
}

func TestCountRuleAppliesExactlyCountTimes(t *testing.T) {
	s := seeded()
	st, err := s.Add(Rule{Operation: "RestoreBackup", Error: "CloudHsmInternalFailureException", Count: i64(2)})
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != 1 || *st.Remaining != 2 || st.Applied != 0 {
		t.Fatalf("added %+v", st)
	}
	if out := s.Decide("DescribeBackups"); out.Error != "" {
		t.Fatalf("another operation was hit: %+v", out)
	}
	for i := range 2 {
		out := s.Decide("RestoreBackup")
		if out.Error != "CloudHsmInternalFailureException" || out.Message != "Injected by cloudhsm-local fault rule 1 (CloudHsmInternalFailureException on RestoreBackup)" {
			t.Fatalf("call %d: %+v", i, out)
		}
	}
	if out := s.Decide("RestoreBackup"); out.Error != "" {
		t.Fatalf("third call still failed: %+v", out)
	}
	list := s.List()
	if len(list) != 1 || *list[0].Remaining != 0 || list[0].Applied != 2 || *list[0].Count != 2 {
		t.Fatalf("list %+v", list)
	}
	if s.Active() != 0 {
		t.Fatalf("an exhausted rule is active")
	}
}

func TestProbabilityZeroNeverOneAlways(t *testing.T) {
	s := seeded()
	if _, err := s.Add(Rule{Operation: "*", Error: "CloudHsmServiceException", Probability: f64(0)}); err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if out := s.Decide("CreateCluster"); out.Error != "" {
			t.Fatal("probability 0 fired")
		}
	}
	s.Clear()
	if _, err := s.Add(Rule{Operation: "*", Error: "CloudHsmServiceException", Probability: f64(1)}); err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if out := s.Decide("CreateCluster"); out.Error != "CloudHsmServiceException" {
			t.Fatal("probability 1 did not fire")
		}
	}
}

func TestProbabilityIsAShareOfRequests(t *testing.T) {
	s := seeded()
	if _, err := s.Add(Rule{Operation: "DescribeClusters", Error: "ThrottlingException", Probability: f64(0.25)}); err != nil {
		t.Fatal(err)
	}
	const n = 20000
	hits := 0
	for range n {
		if s.Decide("DescribeClusters").Error != "" {
			hits++
		}
	}
	if share := float64(hits) / n; share < 0.23 || share > 0.27 {
		t.Fatalf("probability 0.25 fired for %.3f of requests", share)
	}
	if got := s.List()[0].Applied; got != int64(hits) {
		t.Fatalf("applied %d, want %d", got, hits)
	}
	// The same seed gives the same sequence: tests that use probabilities are deterministic.
	a, b := seeded(), seeded()
	for _, x := range []*Set{a, b} {
		x.Add(Rule{Operation: "*", Error: "ThrottlingException", Probability: f64(0.5)})
	}
	for i := range 100 {
		if a.Decide("ListTags").Error != b.Decide("ListTags").Error {
			t.Fatalf("draw %d differs between two sets with the same seed", i)
		}
	}
}

func TestRulesApplyInOrderAndTheFirstErrorWins(t *testing.T) {
	s := seeded()
	mustAdd := func(r Rule) {
		t.Helper()
		if _, err := s.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	mustAdd(Rule{Operation: "*", Latency: "10ms"})
	mustAdd(Rule{Operation: "CreateHsm", Latency: "5ms", Error: "CloudHsmResourceLimitExceededException", Count: i64(1)})
	mustAdd(Rule{Operation: "*", Error: "ThrottlingException", Count: i64(1)})

	out := s.Decide("CreateHsm")
	if out.Latency != 15*time.Millisecond || out.Error != "CloudHsmResourceLimitExceededException" {
		t.Fatalf("first CreateHsm: %+v", out)
	}
	if r := s.List()[2]; *r.Remaining != 1 {
		t.Fatal("a rule after the deciding one was spent")
	}
	out = s.Decide("CreateHsm")
	if out.Latency != 10*time.Millisecond || out.Error != "ThrottlingException" {
		t.Fatalf("second CreateHsm: %+v", out)
	}
	out = s.Decide("CreateHsm")
	if out.Latency != 10*time.Millisecond || out.Error != "" {
		t.Fatalf("third CreateHsm: %+v", out)
	}
	if s.Active() != 1 {
		t.Fatalf("active %d, want 1 (the latency rule)", s.Active())
	}
}

func TestClearAndCap(t *testing.T) {
	s := seeded()
	for i := range MaxRules {
		if _, err := s.Add(Rule{Operation: "*", Latency: "1ms"}); err != nil {
			t.Fatalf("rule %d: %v", i, err)
		}
	}
	_, err := s.Add(Rule{Operation: "*", Latency: "1ms"})
	if !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), "already holds 100 rules") {
		t.Fatalf("rule 101: %v", err)
	}
	if n := s.Clear(); n != MaxRules {
		t.Fatalf("Clear = %d", n)
	}
	if len(s.List()) != 0 || s.Active() != 0 || s.Decide("ListTags") != (Outcome{}) {
		t.Fatal("rules left after Clear")
	}
	st, err := s.Add(Rule{Operation: "*", Latency: "1ms"})
	if err != nil || st.ID != MaxRules+1 {
		t.Fatalf("after Clear: %+v %v (IDs are not reused)", st, err)
	}
}

func TestListIsACopy(t *testing.T) {
	s := seeded()
	count := i64(3)
	s.Add(Rule{Operation: "*", Error: "ThrottlingException", Count: count})
	*count = 100 // the caller's pointer is not the rule's
	list := s.List()
	*list[0].Remaining = 50
	if got := s.List()[0]; *got.Remaining != 3 || *got.Count != 3 {
		t.Fatalf("the set's rule was changed through a copy: %+v", got)
	}
}

func TestDecideIsSafeForConcurrentUse(t *testing.T) {
	s := seeded()
	s.Add(Rule{Operation: "*", Error: "ThrottlingException", Count: i64(500)})
	s.Add(Rule{Operation: "*", Error: "CloudHsmServiceException", Probability: f64(0.5)})
	var wg sync.WaitGroup
	var mu sync.Mutex
	throttled := 0
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if s.Decide("ListTags").Error == "ThrottlingException" {
					mu.Lock()
					throttled++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if throttled != 500 {
		t.Fatalf("a count-500 rule applied %d times", throttled)
	}
}

// TestTotalLatencyIsCapped: the rules of a set may together add at most MaxLatency to one
// request; the rule that would pass it is refused and says why, whatever the order of
// operation-specific and "*" rules, and exhausted Count rules no longer count.
func TestTotalLatencyIsCapped(t *testing.T) {
	tests := []struct {
		name    string
		rules   []Rule
		refused string // "" = every rule is accepted; else the message of the last one's refusal
	}{
		{"a second 30s rule on one operation (the report added three)", []Rule{
			{Operation: "RestoreBackup", Latency: "30s"}, {Operation: "RestoreBackup", Latency: "30s"}},
			"with this rule a request to RestoreBackup could wait 1m0s, and the rules of a set may add at most 30s to one request"},
		{"exactly the cap in two rules", []Rule{{Operation: "RestoreBackup", Latency: "20s"}, {Operation: "RestoreBackup", Latency: "10s"}}, ""},
		{"rules on different operations do not add up", []Rule{{Operation: "RestoreBackup", Latency: "30s"}, {Operation: "DeleteBackup", Latency: "30s"}}, ""},
		{"a * rule adds to an operation's rule", []Rule{{Operation: "DeleteBackup", Latency: "20s"}, {Operation: "*", Latency: "20s"}},
			"a request to DeleteBackup could wait 40s"},
		{"an operation's rule adds to a * rule", []Rule{{Operation: "*", Latency: "20s"}, {Operation: "ListTags", Latency: "15s", Error: "ThrottlingException"}},
			"a request to ListTags could wait 35s"},
		{"a probability does not lower the worst case", []Rule{{Operation: "*", Latency: "25s"}, {Operation: "*", Latency: "25s", Probability: f64(0.01)}},
			"could wait 50s"},
		{"error-only rules add nothing", []Rule{{Operation: "*", Latency: "30s"}, {Operation: "*", Error: "CloudHsmInternalFailureException"}}, ""},
		{"a spent Count rule no longer counts", []Rule{{Operation: "RestoreBackup", Latency: "30s", Count: i64(1)}, {Operation: "RestoreBackup", Latency: "30s"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(nil)
			for i, r := range tt.rules {
				last := i == len(tt.rules)-1
				if last && tt.name == "a spent Count rule no longer counts" {
					if out := s.Decide("RestoreBackup"); out.Latency != 30*time.Second {
						t.Fatalf("the Count rule did not apply: %+v", out)
					}
				}
				_, err := s.Add(r)
				switch {
				case last && tt.refused != "":
					if !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), tt.refused) {
						t.Fatalf("Add = %v, want a refusal containing %q", err, tt.refused)
					}
				case err != nil:
					t.Fatalf("Add rule %d: %v", i+1, err)
				}
			}
			for _, op := range append(api.OperationNames(), "*") {
				if out := s.Decide(op); out.Latency > MaxLatency {
					t.Fatalf("%s waits %s", op, out.Latency)
				}
			}
		})
	}
}
