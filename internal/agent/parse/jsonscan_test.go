package parse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"testing"
)

// referenceJSON is the straightforward encoding/json version of ParseJSON,
// kept to check the scanner against.
func referenceJSON(line []byte) ([]Field, bool) {
	t := bytes.TrimSpace(line)
	if len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, false
	}
	var out []Field
	refFlatten(&out, "", m)
	return out, true
}

func refFlatten(out *[]Field, prefix string, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		switch x := m[k].(type) {
		case map[string]any:
			refFlatten(out, key, x)
		case json.Number:
			if i, err := x.Int64(); err == nil {
				*out = append(*out, Field{key, i})
			} else if f, err := x.Float64(); err == nil {
				*out = append(*out, Field{key, f})
			} else {
				*out = append(*out, Field{key, x.String()})
			}
		case string, bool:
			*out = append(*out, Field{key, x})
		case nil:
			*out = append(*out, Field{key, ""})
		default: // array: compare decoded
			b, _ := json.Marshal(x)
			*out = append(*out, Field{key, "array:" + string(b)})
		}
	}
}

// normalise sorts fields (the scanner keeps key order, the reference sorts)
// and decodes arrays so both encodings compare equal.
func normalise(fs []Field) []Field {
	out := make([]Field, len(fs))
	defer sort.SliceStable(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return fmt.Sprint(out[i].Value) < fmt.Sprint(out[j].Value)
	})
	for i, f := range fs {
		out[i] = f
		if s, ok := f.Value.(string); ok && len(s) > 0 && (s[0] == '[' || len(s) > 6 && s[:6] == "array:") {
			raw := s
			if s[0] != '[' {
				raw = s[6:]
			}
			var v any
			if json.Unmarshal([]byte(raw), &v) == nil {
				b, _ := json.Marshal(v)
				out[i].Value = "array:" + string(b)
			}
		}
	}
	return out
}

func TestParseJSONMatchesReference(t *testing.T) {
	for _, in := range []string{
		`{}`, ` {"a":1} `, `{"a":{"b":{"c":true}},"a.x":null}`, `{"a":1,"a":{"z":2}}`,
		`{"s":"\u00e9\ud83d\ude00\n\"\\\/"}`, `{"lone":"\ud800x"}`, `{"n":-0.5e+3,"big":123456789012345678901234567890,"inf":1e400}`,
		`{"arr":[1, {"x": [ ]}, "s"]}`, "{\"bad\":\"\xff\"}", `{"a":1,}`, `{"a" 1}`, `{"a":01}`, `[1]`, `{"a":"x"} y`, `{"a":tru}`,
	} {
		got, err := ParseJSON([]byte(in))
		want, ok := referenceJSON([]byte(in))
		if (err == nil) != ok {
			t.Errorf("%s: err=%v, reference ok=%v", in, err, ok)
			continue
		}
		if ok && !reflect.DeepEqual(normalise(got), normalise(want)) {
			t.Errorf("%s:\n got %v\nwant %v", in, got, want)
		}
	}
}

func FuzzParseJSONMatchesReference(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[1,2]},"ts":1.5e9,"level":"info","s":"\u00e9\t"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseJSON(b)
		want, ok := referenceJSON(b)
		if (err == nil) != ok {
			t.Fatalf("err=%v, reference ok=%v", err, ok)
		}
		if ok && !reflect.DeepEqual(normalise(got), normalise(want)) {
			t.Fatalf("got %v\nwant %v", got, want)
		}
	})
}
