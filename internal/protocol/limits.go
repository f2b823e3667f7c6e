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

// MaxListLength caps the elements of every list in a request. The model caps its lists (10
// subnets, 50 tags) but not the value lists of the DescribeBackups and DescribeClusters filters;
// a longer list is refused as a constraint violation (CloudHsmInvalidRequestException) whose
// message names this limit, before the operation runs. 1000 values is far more than any client
// sends, and keeps every query well inside the databases' parameter limits (32766 for SQLite).
const MaxListLength = 1000

// checkLists refuses a decoded input with a list longer than MaxListLength, naming each such
// list with the validation messages' member paths ("filters.backupIds", "tagList").
func checkLists(in any) error {
	var vs []string
	walkLists(reflect.ValueOf(in), "", &vs)
	if len(vs) == 0 {
		return nil
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
		if !mayHoldList(v.Type().Elem()) {
			return
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			walkLists(v.MapIndex(k), join(path, clip(k.String())), vs)
		}
	case reflect.Slice:
		if v.Len() > MaxListLength {
			*vs = append(*vs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: "+
				"Member must have length less than or equal to %d (a cloudhsm-local limit on every list)",
				shownList(v), path, MaxListLength))
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

// shownList renders the start of a long list: [a, b, c, ... N more].
func shownList(v reflect.Value) string {
	const shown = 3
	parts := make([]string, 0, shown+1)
	for i := range min(shown, v.Len()) {
		parts = append(parts, clip(fmt.Sprint(v.Index(i).Interface())))
	}
	parts = append(parts, fmt.Sprintf("... %d more", v.Len()-shown))
	return "[" + strings.Join(parts, ", ") + "]"
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
