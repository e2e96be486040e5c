package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"go.yaml.in/yaml/v3"
)

// FuzzMsgpackValue checks that a JSON document converted for MessagePack
// (an event's payload, a schema) decodes back to the same document, and
// that every valid document has a YAML form.
func FuzzMsgpackValue(f *testing.F) {
	for _, s := range []string{`{"id":1,"item":"book","price":12.5,"tags":["a","b"],"ok":true,"none":null}`,
		`[1,-2,3.25e10,18446744073709551615,-9223372036854775808]`, `"text"`, `0`, `{"a":{"b":{"c":[{}]}}}`, `{"z":1,"a":2}`, `{bad`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		v, err := MsgpackValue(src)
		if !json.Valid(src) {
			if err == nil {
				t.Fatalf("converted invalid JSON %q", src)
			}
			return
		}
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return // a number beyond float64: refused
			}
			t.Fatalf("valid JSON %q: %v", src, err)
		}
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var back any
		if err := msgpack.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		j, err := json.Marshal(jsonable(back))
		if err != nil {
			t.Fatal(err)
		}
		var want, got any
		if json.Unmarshal(src, &want) != nil || json.Unmarshal(j, &got) != nil || !reflect.DeepEqual(want, got) {
			t.Fatalf("%s came back as %s", src, j)
		}
		n, err := RawJSON(src).MarshalYAML()
		if err != nil {
			t.Fatalf("no YAML form for %q: %v", src, err)
		}
		if _, err := yaml.Marshal(n); err != nil {
			t.Fatalf("the YAML form of %q does not encode: %v", src, err)
		}
	})
}

// jsonable turns a generically decoded MessagePack value into one
// encoding/json writes as the same document.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return v
}
