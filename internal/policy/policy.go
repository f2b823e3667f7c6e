// Package policy evaluates IAM-style policy documents: the identity policy a strict-mode
// credential carries (docs/BEHAVIOUR.md §1) and the resource policy that shares a backup (§7). Both
// go through the one evaluator here, so a decision never depends on which front door asked.
//
// The grammar is IAM's JSON: Version (not checked), Statement (one object or a list), and per statement Sid,
// Effect ("Allow" or "Deny"), Principal ("*" or {"AWS": ...}), Action or NotAction, Resource or
// NotResource. Actions match case-insensitively, resources case-sensitively; both allow the
// wildcards '*' (any run of characters) and '?' (one character). An explicit Deny wins over any
// Allow; with no matching Allow the answer is an implicit deny.
//
// Condition and NotPrincipal are refused when parsing: evaluating a statement without its
// condition would grant (or deny) more than its author wrote.
//
// ParseSharing reads the same grammar with the sharing profile (Sharing): the narrower resource
// policy that shares one resource with other accounts. A document is parsed once, when it is
// accepted; what it grants each account is then read from the parsed Policy (Grants).
//
// This package must never know the API's operations, the store or HTTP: it answers "does this
// document allow this principal this action on this resource", and nothing else.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
)

// Kind says which sort of document is parsed; the two differ only in what they require.
type Kind int

const (
	// Identity is a policy attached to a credential: every statement needs Resource (or
	// NotResource) and none may name a Principal (the principal is the credential itself).
	Identity Kind = iota
	// Resource is a policy attached to a resource: every statement needs a Principal; Resource
	// may be left out, meaning the resource the policy is attached to.
	Resource
)

// Sharing is the profile of a resource policy that shares one resource with other accounts,
// as a backup's policy does (docs/BEHAVIOUR.md §7). On top of the Resource grammar every statement
// must Allow (a sharing policy can only share), name accounts as principals (no "*"), allow only
// some of Actions, written exactly, and name Resource as the shared resource or "*"; NotAction
// and NotResource are refused, since they would share what their author did not list.
type Sharing struct {
	// Resource is the canonical ARN of the shared resource.
	Resource string
	// Actions are the actions a statement may allow, e.g. "cloudhsm:DescribeBackups".
	Actions []string
}

// Effect is what a matching statement does.
type Effect int

// The two effects of a statement.
const (
	Allow Effect = iota + 1
	Deny
)

// Decision is the outcome of an evaluation.
type Decision int

const (
	// ImplicitDeny: no statement allowed the request (and none denied it).
	ImplicitDeny Decision = iota
	// Allowed: at least one statement allowed the request and none denied it.
	Allowed
	// ExplicitDeny: a Deny statement matched, whatever the Allow statements say.
	ExplicitDeny
)

// String names the decision for messages.
func (d Decision) String() string {
	switch d {
	case Allowed:
		return "allowed"
	case ExplicitDeny:
		return "explicit deny"
	}
	return "implicit deny"
}

// Request is one question put to a policy.
type Request struct {
	// Principal is the 12-digit account of the caller. Resource policies match it against their
	// Principal element; identity policies ignore it.
	Principal string
	// Action is the service-prefixed action, e.g. "cloudhsm:DescribeBackups".
	Action string
	// Resource is the ARN acted on, or "*" for an action on no particular resource.
	Resource string
}

// Policy is a parsed document. Its zero value has no statements and denies everything; a nil
// *Policy is not a policy at all, and callers decide what that means.
type Policy struct {
	statements []statement
}

type statement struct {
	effect Effect

	principalSet bool     // the statement has a Principal element
	anyPrincipal bool     // Principal "*" or {"AWS":"*"}
	accounts     []string // 12-digit accounts named by Principal

	actions   []string // patterns; lower-cased
	notAction bool

	resources   []string // patterns; nil with resourceSet false means "the attached resource"
	resourceSet bool
	notResource bool
}

// Evaluate answers r: ExplicitDeny if any Deny statement matches, else Allowed if any Allow
// statement matches, else ImplicitDeny.
func (p *Policy) Evaluate(r Request) Decision {
	if p == nil {
		return ImplicitDeny
	}
	action := strings.ToLower(r.Action)
	allowed := false
	for _, s := range p.statements {
		if !s.matches(r.Principal, action, r.Resource) {
			continue
		}
		if s.effect == Deny {
			return ExplicitDeny
		}
		allowed = true
	}
	if allowed {
		return Allowed
	}
	return ImplicitDeny
}

// Allows reports whether Evaluate(r) is Allowed.
func (p *Policy) Allows(r Request) bool { return p.Evaluate(r) == Allowed }

func (s statement) matches(principal, action, resource string) bool {
	if s.principalSet && !s.anyPrincipal && !contains(s.accounts, principal) {
		return false
	}
	if matchAny(s.actions, action) == s.notAction {
		return false
	}
	if !s.resourceSet {
		return true
	}
	return matchAny(s.resources, resource) != s.notResource
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if Match(p, s) {
			return true
		}
	}
	return false
}

// Match reports whether s matches an IAM wildcard pattern: '*' matches any run of characters
// (also none), '?' exactly one; everything else matches itself. It is linear in len(s) times
// the number of stars, never exponential.
func Match(pattern, s string) bool {
	// Iterative glob matching with backtracking to the last star only.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Parse reads a policy document of the given kind. Its errors say what is wrong in terms of the
// document (statement numbers count from 1) and never quote more of it than an element name.
func Parse(doc []byte, kind Kind) (*Policy, error) {
	return parse(doc, kind, nil)
}

// ParseSharing reads a resource policy with the sharing profile. Its errors are Parse's and
// those of the profile's rules.
func ParseSharing(doc []byte, profile Sharing) (*Policy, error) {
	return parse(doc, Resource, &profile)
}

// Grants lists, for each account a statement names as its principal (in the order first named),
// the actions among actions that the policy allows it on resource: the decisions Evaluate makes,
// computed once. An account named only in statements that allow none of them is listed with
// none.
func (p *Policy) Grants(resource string, actions ...string) []Grant {
	var grants []Grant
	seen := map[string]bool{}
	for _, st := range p.statements {
		for _, account := range st.accounts {
			if seen[account] {
				continue
			}
			seen[account] = true
			g := Grant{Account: account}
			for _, a := range actions {
				if p.Allows(Request{Principal: account, Action: a, Resource: resource}) {
					g.Actions = append(g.Actions, a)
				}
			}
			grants = append(grants, g)
		}
	}
	return grants
}

// Grant is what a policy allows one account.
type Grant struct {
	Account string
	Actions []string // the allowed actions, in the order asked
}

// Allows reports whether the grant includes action.
func (g Grant) Allows(action string) bool { return contains(g.Actions, action) }

func parse(doc []byte, kind Kind, profile *Sharing) (*Policy, error) {
	var d struct {
		Version   string
		Id        string
		Statement json.RawMessage
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, documentError(err)
	}
	raw, err := statementsOf(d.Statement)
	if err != nil {
		return nil, err
	}
	p := &Policy{}
	for i, r := range raw {
		s, err := r.compile(kind, profile)
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", i+1, err)
		}
		p.statements = append(p.statements, s)
	}
	return p, nil
}

// rawStatement is a statement as JSON has it. Like the rest of the document it is decoded with
// encoding/json's usual leniency (unknown members are ignored, member names match
// case-insensitively), so every document the sharing API accepted parses here too.
type rawStatement struct {
	Sid         string
	Effect      string
	Principal   json.RawMessage
	Action      *stringOrList
	NotAction   *stringOrList
	Resource    *stringOrList
	NotResource *stringOrList

	Condition, NotPrincipal json.RawMessage
}

func statementsOf(raw json.RawMessage) ([]rawStatement, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, errors.New("policy has no Statement")
	}
	var list []rawStatement
	if raw[0] == '{' {
		var one rawStatement
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, documentError(err)
		}
		list = []rawStatement{one}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, documentError(err)
	}
	if len(list) == 0 {
		return nil, errors.New("policy has no Statement")
	}
	return list, nil
}

var (
	rootPrincipal     = regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}):root$`)
	actionNamePattern = regexp.MustCompile(`^(\*|[a-zA-Z0-9-]+:[a-zA-Z0-9*?]+)$`)
)

func (r rawStatement) compile(kind Kind, profile *Sharing) (statement, error) {
	if profile != nil {
		if err := r.checkSharing(*profile); err != nil {
			return statement{}, err
		}
	}
	var s statement
	switch r.Effect {
	case "Allow":
		s.effect = Allow
	case "Deny":
		s.effect = Deny
	default:
		return s, errors.New(`Effect must be "Allow" or "Deny"`)
	}
	if r.Condition != nil || r.NotPrincipal != nil {
		return s, errors.New("Condition and NotPrincipal are not supported")
	}

	switch {
	case r.Action != nil && r.NotAction != nil:
		return s, errors.New("give Action or NotAction, not both")
	case r.Action != nil:
		s.actions = *r.Action
	case r.NotAction != nil:
		s.actions, s.notAction = *r.NotAction, true
	}
	if len(s.actions) == 0 {
		return s, errors.New("has no Action")
	}
	for i, a := range s.actions {
		if !actionNamePattern.MatchString(a) {
			return s, fmt.Errorf("action %q is not \"service:Action\" (wildcards * and ? allowed)", api.Clip(a))
		}
		s.actions[i] = strings.ToLower(a)
	}

	switch {
	case r.Resource != nil && r.NotResource != nil:
		return s, errors.New("give Resource or NotResource, not both")
	case r.Resource != nil:
		s.resources, s.resourceSet = *r.Resource, true
	case r.NotResource != nil:
		s.resources, s.resourceSet, s.notResource = *r.NotResource, true, true
	}
	if s.resourceSet && len(s.resources) == 0 {
		return s, errors.New("has an empty Resource")
	}
	if kind == Identity && !s.resourceSet {
		return s, errors.New("has no Resource (use \"*\" for every resource)")
	}

	if r.Principal != nil {
		if kind == Identity {
			return s, errors.New("Principal is not allowed in an identity policy (the principal is the credential)")
		}
		if err := s.setPrincipal(r.Principal); err != nil {
			return s, err
		}
	} else if kind == Resource {
		return s, errors.New(`needs Principal {"AWS": [...]} with account IDs`)
	}
	return s, nil
}

// checkSharing applies the sharing profile's rules to a statement as written; compile checks
// the rest of the grammar.
func (r rawStatement) checkSharing(profile Sharing) error {
	if r.Effect != "Allow" {
		return errors.New(`Effect must be "Allow": a sharing policy can only share`)
	}
	if r.Condition != nil || r.NotPrincipal != nil || r.NotAction != nil || r.NotResource != nil {
		return errors.New("Condition, NotPrincipal, NotAction and NotResource are not supported in a sharing policy")
	}
	if r.Action != nil {
		for _, a := range *r.Action {
			if !contains(profile.Actions, a) {
				return fmt.Errorf("action %q cannot be shared; the actions that can are %s", api.Clip(a), strings.Join(profile.Actions, " and "))
			}
		}
	}
	if r.Resource != nil {
		for _, res := range *r.Resource {
			if res != profile.Resource && res != "*" {
				return fmt.Errorf("resource %q is not the shared resource (%s)", api.Clip(res), profile.Resource)
			}
		}
	}
	var p struct{ AWS stringOrList }
	if json.Unmarshal(r.Principal, &p) != nil || len(p.AWS) == 0 || contains(p.AWS, "*") {
		return errors.New(`needs Principal {"AWS": [...]} with account IDs`)
	}
	return nil
}

// setPrincipal reads "*" or {"AWS": "*" | account | arn:<partition>:iam::<account>:root | [...]}.
func (s *statement) setPrincipal(raw json.RawMessage) error {
	s.principalSet = true
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return errors.New(`Principal must be "*" or {"AWS": [...]}`)
		}
		s.anyPrincipal = true
		return nil
	}
	var p struct{ AWS *stringOrList }
	if err := json.Unmarshal(raw, &p); err != nil {
		return errors.New(`Principal must be "*" or {"AWS": [...]}`)
	}
	if p.AWS == nil || len(*p.AWS) == 0 {
		return errors.New(`needs Principal {"AWS": [...]} with account IDs`)
	}
	for _, v := range *p.AWS {
		switch m := rootPrincipal.FindStringSubmatch(v); {
		case v == "*":
			s.anyPrincipal = true
		case api.IsAccountID(v):
			s.accounts = append(s.accounts, v)
		case m != nil:
			s.accounts = append(s.accounts, m[1])
		default:
			return fmt.Errorf("principal %q must be a 12-digit account ID or arn:aws:iam::<account>:root", api.Clip(v))
		}
	}
	return nil
}

// errStringOrList is the error of a stringOrList that is neither.
var errStringOrList = errors.New("each of Principal.AWS, Action and Resource must be a string or a list of strings")

// stringOrList is an IAM value that may be one string or a list of strings.
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errStringOrList
	}
	*s = many
	return nil
}

// documentError explains a JSON error without Go type names or the document's content.
func documentError(err error) error {
	if errors.Is(err, errStringOrList) {
		return fmt.Errorf("policy is not a valid policy document: %w", err)
	}
	return errors.New("policy is not a valid policy document: " + api.JSONProblem(err))
}
