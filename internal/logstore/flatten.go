package logstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/sightline/sightline/internal/model"
)

// ParseJSONObject decodes one JSON object, keeping numbers exact. Errors
// say what is wrong with the input. To turn a document into a row, prefer
// Schema.FromJSONBytes: same result and errors without building the map.
func ParseJSONObject(data []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("parse JSON object: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("parse JSON object: got null, want an object")
	}
	if d.More() {
		return nil, fmt.Errorf("parse JSON object: data after the object")
	}
	return m, nil
}

// AddFields flattens a decoded JSON object into the record: nested objects
// become "parent_child" keys (up to MaxDepth, deeper ones are kept as JSON
// text), arrays are kept as JSON text, numbers become ints or floats, nulls
// are skipped. Keys are added in sorted order so rows are deterministic.
func (r *Record) AddFields(m map[string]any) { r.addFields("", m, 0) }

func (r *Record) addFields(prefix string, m map[string]any, depth int) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		key := k
		if prefix != "" {
			key = prefix + "_" + k
		}
		r.AddAny(key, m[k], depth)
	}
}

// AddAny adds one decoded JSON value under key (see AddFields).
func (r *Record) AddAny(key string, v any, depth int) {
	switch x := v.(type) {
	case nil:
	case string:
		r.Add(key, model.StringValue(x))
	case bool:
		r.Add(key, model.BoolValue(x))
	case json.Number:
		r.Add(key, NumberValue(string(x)))
	case float64:
		r.Add(key, model.FloatValue(x))
	case map[string]any:
		if depth+1 >= r.s.opts.MaxDepth {
			b, _ := json.Marshal(x)
			r.Add(key, model.StringValue(string(b)))
			return
		}
		r.addFields(key, x, depth+1)
	default:
		b, _ := json.Marshal(x)
		r.Add(key, model.StringValue(string(b)))
	}
}

// NumberValue returns an int value for integral numbers that fit in int64,
// else a float value; text that is not a number stays a string.
func NumberValue(s string) model.Value {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return model.IntValue(i)
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return model.FloatValue(f)
	}
	return model.StringValue(s)
}
