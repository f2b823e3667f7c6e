package cloudhsmlocal

import (
	"slices"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/faults"
	"github.com/cloudhsm-local/cloudhsm-local/internal/history"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
)

// TestNamesMatchTheServer: the public names that are the server's own (transitions, the
// wildcard operation) are spelt as the server spells them, so none is refused or ignored.
func TestNamesMatchTheServer(t *testing.T) {
	public := []Transition{ClusterCreate, ClusterInitialize, ClusterModify, ClusterDelete, HSMCreate, HSMDelete, BackupCreate}
	var internal []Transition
	for _, tr := range lifecycle.Transitions() {
		internal = append(internal, Transition(tr))
	}
	if !slices.Equal(public, internal) {
		t.Errorf("the public transitions are %v, the lifecycle's %v", public, internal)
	}
	if AnyOperation != faults.AnyOperation {
		t.Errorf("AnyOperation is %q, the fault rules' %q", AnyOperation, faults.AnyOperation)
	}
	if AnyError != history.AnyError {
		t.Errorf("AnyError is %q, the request history's %q", AnyError, history.AnyError)
	}
}
