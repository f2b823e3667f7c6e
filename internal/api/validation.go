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
type ValidationError struct {
	Violations []string
}

// Error returns the message AWS services send for constraint violations.
func (e *ValidationError) Error() string {
	noun := "errors"
	if len(e.Violations) == 1 {
		noun = "error"
	}
	return fmt.Sprintf("%d validation %s detected: %s", len(e.Violations), noun, strings.Join(e.Violations, "; "))
}

// Violations collects constraint violations while a request is checked.
type Violations []string

// Err returns nil when nothing was violated, else a *ValidationError.
func (vs Violations) Err() error {
	if len(vs) == 0 {
		return nil
	}
	return &ValidationError{Violations: vs}
}

func (vs *Violations) add(value, path, constraint string) {
	*vs = append(*vs, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", value, path, constraint))
}

func quote(s string) string { return "'" + s + "'" }

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

// listString renders a list the way AWS quotes it in messages: [a, b].
func listString[T any](list []T) string {
	parts := make([]string, len(list))
	for i, e := range list {
		parts[i] = fmt.Sprint(e)
	}
	return "[" + strings.Join(parts, ", ") + "]"
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

// mapString renders a map as {k=[v], ...} with sorted keys.
func mapString[V any](m map[string]V) string {
	keys := sortedKeys(m)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
