package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// encodingJSON is what the generated AppendJSON must match: encoding/json with HTML escaping
// off, without the Encoder's trailing newline.
func encodingJSON(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// trickyStrings need escaping, or look as if they did.
var trickyStrings = []string{
	"", "backup-abcdefghijk", `"quoted"`, `back\slash`, "<html> & 'x'", "line\nbreak\r\ttab\b\f",
	"\x00\x01\x1f\x7f", "é ñ 日本 🙂", "\u2028\u2029", "bad \xff\xfe utf-8 \xe2\x82", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
}

// fill sets every member of the value v points to, at random: pointers nil or set, lists nil,
// empty or not, maps nil, empty or not, strings from trickyStrings.
func fill(r *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if r.IntN(4) == 0 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(r, v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[Timestamp]() {
			ms := r.Int64N(4_000_000_000_000) - 1_000_000_000_000
			v.Set(reflect.ValueOf(Timestamp(time.UnixMilli(ms))))
			return
		}
		for i := range v.NumField() {
			fill(r, v.Field(i))
		}
	case reflect.Slice:
		if r.IntN(3) == 0 {
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), r.IntN(4), r.IntN(4)+4))
		for i := range v.Len() {
			fill(r, v.Index(i))
		}
	case reflect.Map:
		if r.IntN(3) == 0 {
			return
		}
		v.Set(reflect.MakeMap(v.Type()))
		for range r.IntN(4) {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(r, k)
			fill(r, e)
			v.SetMapIndex(k, e)
		}
	case reflect.String:
		s := trickyStrings[r.IntN(len(trickyStrings))]
		if r.IntN(2) == 0 {
			s += fmt.Sprint(r.IntN(100))
		}
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	default:
		panic("fill: unexpected kind " + v.Kind().String())
	}
}

// Every operation's output writes itself exactly as encoding/json writes it.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	service := reflect.TypeFor[Service]()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range service.NumMethod() {
		m := service.Method(i)
		out := m.Type.Out(0) // *<Operation>Response
		t.Run(m.Name, func(t *testing.T) {
			for n := range 300 {
				v := reflect.New(out.Elem())
				if n > 0 {
					fill(r, v.Elem())
				}
				want := encodingJSON(t, v.Interface())
				got := v.Interface().(interface{ AppendJSON([]byte) []byte }).AppendJSON(nil)
				if !bytes.Equal(got, want) {
					t.Fatalf("AppendJSON of %s\n got  %s\n want %s", out.Elem().Name(), got, want)
				}
			}
		})
	}
}

// appendJSONString escapes exactly as encoding/json does, for any string.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := encodingJSON(t, s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}
