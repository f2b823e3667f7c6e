package api

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// ValidationError lists the constraint violations of one request, in AWS's wording:
// "2 validation errors detected: Value 'x' at 'backupId' failed to satisfy constraint: ...; ...".
// At most MaxViolations are listed; More counts the others, so the message stays short
// whatever the request.
type ValidationError struct {
	Violations []string
	More       int
}

// Error returns the message AWS services send for constraint violations, with
// "; and N more" when some were not listed.
func (e *ValidationError) Error() string {
	total := len(e.Violations) + e.More
	noun := "errors"
	if total == 1 {
		noun = "error"
	}
	msg := fmt.Sprintf("%d validation %s detected: %s", total, noun, strings.Join(e.Violations, "; "))
	if e.More > 0 {
		msg += fmt.Sprintf("; and %d more", e.More)
	}
	return msg
}

// Violations collects constraint violations while a request is checked: the first
// MaxViolations in full, the rest only counted.
type Violations struct {
	listed []string
	more   int
}

// Err returns nil when nothing was violated, else a *ValidationError.
func (vs Violations) Err() error {
	if len(vs.listed) == 0 {
		return nil
	}
	return &ValidationError{Violations: vs.listed, More: vs.more}
}

func (vs *Violations) add(value, path, constraint string) {
	if len(vs.listed) == MaxViolations {
		vs.more++
		return
	}
	vs.listed = append(vs.listed, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", value, path, constraint))
}

// IsAccountID reports whether s is an AWS account ID: exactly 12 ASCII digits. (The model has no
// shape for one; this is the rule beside the generated Is<Shape> matchers, used wherever an
// account is read: access keys, credentials files, ARNs, policy principals.)
func IsAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// quote renders a client value in a message, clipped.
func quote(s string) string { return "'" + Clip(s) + "'" }

// Null records a required member that is missing.
func (vs *Violations) Null(path string) { vs.add("null", path, "Member must not be null") }

// StringLength checks a string's length in characters; a bound of -1 is absent.
func (vs *Violations) StringLength(path, s string, minLen, maxLen int) {
	n := utf8.RuneCountInString(s)
	vs.length(path, quote(s), n, minLen, maxLen)
}

// ListLength checks the number of elements of a list or map; shown renders it, and is only
// called for a violation.
func (vs *Violations) ListLength(path string, n, minLen, maxLen int, shown func() string) {
	if (minLen >= 0 && n < minLen) || (maxLen >= 0 && n > maxLen) {
		vs.length(path, quote(shown()), n, minLen, maxLen)
	}
}

// ListCap checks a list or map that the model leaves unbounded against MaxListLength; shown
// renders its start, and is only called for a violation.
func (vs *Violations) ListCap(path string, n int, shown func() string) {
	if n > MaxListLength {
		vs.add(quote(shown()), path, fmt.Sprintf("Member must have length less than or equal to %d (a cloudhsm-local limit on every list)", MaxListLength))
	}
}

func (vs *Violations) length(path, shown string, n, minLen, maxLen int) {
	if minLen >= 0 && n < minLen {
		vs.add(shown, path, fmt.Sprintf("Member must have length greater than or equal to %d", minLen))
	}
	if maxLen >= 0 && n > maxLen {
		vs.add(shown, path, fmt.Sprintf("Member must have length less than or equal to %d", maxLen))
	}
}

// Pattern checks a string against the model's regular expression.
func (vs *Violations) Pattern(path, s string, re *regexp.Regexp) {
	if !re.MatchString(s) {
		vs.add(quote(s), path, "Member must satisfy regular expression pattern: "+re.String())
	}
}

// MapKeyPattern checks a map key against the key shape's regular expression.
func (vs *Violations) MapKeyPattern(path, key string, re *regexp.Regexp) {
	if !re.MatchString(key) {
		vs.add(quote(key), path, "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: "+re.String()+"]")
	}
}

// Enum checks that s is one of values.
func (vs *Violations) Enum(path, s string, values []string) {
	if !slices.Contains(values, s) {
		vs.add(quote(s), path, "Member must satisfy enum value set: ["+strings.Join(values, ", ")+"]")
	}
}

// Range checks an integer against the model's range; a bound of -1 is absent.
func (vs *Violations) Range(path string, n int64, minVal, maxVal int64) {
	if minVal >= 0 && n < minVal {
		vs.add(quote(fmt.Sprint(n)), path, fmt.Sprintf("Member must have value greater than or equal to %d", minVal))
	}
	if maxVal >= 0 && n > maxVal {
		vs.add(quote(fmt.Sprint(n)), path, fmt.Sprintf("Member must have value less than or equal to %d", maxVal))
	}
}

// memberPath names the i-th element of a list as AWS does: "tagList.1.member" (1-based).
func memberPath(path string, i int) string { return fmt.Sprintf("%s.%d.member", path, i+1) }

// maxShownElements is how many elements of a list or map a message shows: twice the model's
// largest list limit (50 tags), so that a list over a model limit is shown whole, as AWS shows
// it, while one of a thousand elements is not.
const maxShownElements = 100

// listString renders a list the way AWS quotes it in messages, [a, b], showing at most
// maxShownElements elements (each clipped) and counting the rest: [a, b, …, ... 900 more].
func listString[T any](list []T) string {
	parts := make([]string, 0, maxShownElements+1)
	for _, e := range list[:min(len(list), maxShownElements)] {
		parts = append(parts, Clip(fmt.Sprint(e)))
	}
	if n := len(list) - maxShownElements; n > 0 {
		parts = append(parts, fmt.Sprintf("... %d more", n))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// firstOf renders the start of a long list: [a, b, c, ... N more].
func firstOf[T any](list []T) string {
	const shown = 3
	parts := make([]string, 0, shown+1)
	for _, e := range list[:min(len(list), shown)] {
		parts = append(parts, Clip(fmt.Sprint(e)))
	}
	if n := len(list) - shown; n > 0 {
		parts = append(parts, fmt.Sprintf("... %d more", n))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// firstKeysOf renders the first keys of a long map, in order: {a, b, c, ... N more}.
func firstKeysOf[V any](m map[string]V) string {
	return "{" + strings.TrimSuffix(strings.TrimPrefix(firstOf(sortedKeys(m)), "["), "]") + "}"
}

// sortedKeys returns a map's keys in order, so violations about keys are reported in a stable
// order (a map's own order is random).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// mapString renders a map as {k=[v], ...} with sorted keys, showing at most maxShownElements
// entries (each clipped) and counting the rest.
func mapString[V any](m map[string]V) string {
	keys := sortedKeys(m)
	parts := make([]string, 0, maxShownElements+1)
	for _, k := range keys[:min(len(keys), maxShownElements)] {
		parts = append(parts, Clip(fmt.Sprintf("%s=%v", k, m[k])))
	}
	if n := len(keys) - maxShownElements; n > 0 {
		parts = append(parts, fmt.Sprintf("... %d more", n))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
