package protocol

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
)

// MaxListLength caps the elements of every list and map in a request. The model caps its lists
// (10 subnets, 50 tags) and the Filters maps (30 keys) but not the value lists of the
// DescribeBackups and DescribeClusters filters; a longer list or map is refused as a constraint
// violation (CloudHsmInvalidRequestException) whose message names this limit, before the
// operation runs. 1000 values is far more than any client sends, and keeps every query well
// inside the databases' parameter limits (32766 for SQLite).
const MaxListLength = 1000

// MaxJSONElements caps the elements of all the arrays and objects of a request body together,
// counted before the body is decoded, so that no body within MaxBodyBytes can make the server
// build more than this many values (a Filters map of 80,000 keys once did). A request that
// uses every list to the model's limits has a few hundred; three filters of MaxListLength
// values each stay well below it.
const MaxJSONElements = 10000

// checkElementCount refuses a body whose arrays and objects hold more than MaxJSONElements
// elements in all, without decoding it: it counts the commas outside strings, which is the
// number of elements less one per non-empty container. It allocates nothing.
func checkElementCount(body []byte) error {
	commas, inString, escaped := 0, false, false
	for _, c := range body {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && c == ',':
			if commas++; commas >= MaxJSONElements {
				return serializationf("Request body has more than %d elements in its arrays and objects "+
					"(a cloudhsm-local limit on every request)", MaxJSONElements)
			}
		}
	}
	return nil
}

// checkLists refuses a decoded input with a list or map longer than MaxListLength, naming each
// such list with the validation messages' member paths ("filters.backupIds", "tagList"), at
// most api.MaxViolations of them.
func checkLists(in any) error {
	var vs []string
	walkLists(reflect.ValueOf(in), "", &vs)
	if len(vs) == 0 {
		return nil
	}
	if n := len(vs) - api.MaxViolations; n > 0 {
		return &api.ValidationError{Violations: vs[:api.MaxViolations], More: n}
	}
	return &api.ValidationError{Violations: vs}
}

func walkLists(v reflect.Value, path string, vs *[]string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkLists(v.Elem(), path, vs)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || !mayHoldList(f.Type) {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			walkLists(v.Field(i), join(path, lowerFirst(name)), vs)
		}
	case reflect.Map:
		if v.Len() > MaxListLength {
			*vs = append(*vs, tooLong(shownMap(v), path))
			return
		}
		if !mayHoldList(v.Type().Elem()) {
			return
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			walkLists(v.MapIndex(k), join(path, api.Clip(k.String())), vs)
		}
	case reflect.Slice:
		if v.Len() > MaxListLength {
			*vs = append(*vs, tooLong(shownList(v), path))
			return
		}
		if !mayHoldList(v.Type().Elem()) {
			return
		}
		for i := range v.Len() {
			walkLists(v.Index(i), fmt.Sprintf("%s.%d.member", path, i+1), vs)
		}
	}
}

// mayHoldList reports whether a value of type t can be or contain a list; walkLists does not
// visit the others (strings, numbers, booleans), so it builds no path for them.
func mayHoldList(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer:
		return mayHoldList(t.Elem())
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Interface:
		return true
	}
	return false
}

// tooLong is the violation of a list or map over MaxListLength.
func tooLong(shown, path string) string {
	return fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: "+
		"Member must have length less than or equal to %d (a cloudhsm-local limit on every list)", shown, path, MaxListLength)
}

// shownList renders the start of a long list: [a, b, c, ... N more].
func shownList(v reflect.Value) string {
	const shown = 3
	parts := make([]string, 0, shown+1)
	for i := range min(shown, v.Len()) {
		parts = append(parts, api.Clip(fmt.Sprint(v.Index(i).Interface())))
	}
	parts = append(parts, fmt.Sprintf("... %d more", v.Len()-shown))
	return "[" + strings.Join(parts, ", ") + "]"
}

// shownMap renders the first keys of a long map, in order: {a, b, c, ... N more}.
func shownMap(v reflect.Value) string {
	const shown = 3
	keys := make([]string, 0, v.Len())
	for _, k := range v.MapKeys() {
		keys = append(keys, k.String())
	}
	slices.Sort(keys)
	parts := make([]string, 0, shown+1)
	for _, k := range keys[:shown] {
		parts = append(parts, api.Clip(k))
	}
	parts = append(parts, fmt.Sprintf("... %d more", len(keys)-shown))
	return "{" + strings.Join(parts, ", ") + "}"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[n:]
}
