package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Bodies. JSON goes through encoding/json with the api package's types.
// MessagePack requests are written with the json tags as field names (as
// the server reads them), JSON payloads converted to native MessagePack
// values in order. MessagePack responses are decoded generically and
// handed to the JSON decoder, so both formats fill the same types the
// same way.

// marshal encodes v in enc.
func marshal(enc Encoding, v any) ([]byte, error) {
	if enc == EncodingMsgpack {
		var buf bytes.Buffer
		e := msgpack.NewEncoder(&buf)
		e.SetCustomStructTag("json")
		if err := e.Encode(v); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return json.Marshal(v)
}

// unmarshal decodes a body of media type mt into out.
func unmarshal(mt string, b []byte, out any) error {
	switch {
	case mt == "application/msgpack" || mt == "application/x-msgpack" || mt == "application/vnd.msgpack":
		d := msgpack.NewDecoder(bytes.NewReader(b))
		var v any
		if err := d.Decode(&v); err != nil {
			return fmt.Errorf("decoding MessagePack: %w", err)
		}
		j, err := json.Marshal(jsonable(v))
		if err != nil {
			return fmt.Errorf("decoding MessagePack: %w", err)
		}
		b = j
	case mt == "" || mt == "application/json" || strings.HasSuffix(mt, "+json"):
	default:
		return fmt.Errorf("unexpected response Content-Type %q", mt)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding JSON: %w", err)
	}
	return nil
}

// jsonable turns a generically decoded MessagePack value into one
// encoding/json writes as the JSON form of the same body: maps get string
// keys, and an event's bin payload becomes payload_base64 (which
// encoding/json writes as base64, as the server does).
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		if p, ok := x["payload"].([]byte); ok {
			if _, ok := x["sequence"]; ok {
				delete(x, "payload")
				x["payload_base64"] = p
			}
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = e
		}
		return jsonable(m)
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

// normalizeDocument turns a JSON document given as text (json.RawMessage,
// []byte or a string holding JSON) into a value, so it encodes as the
// document in every encoding; other values are returned as they are.
func normalizeDocument(v any) (any, error) {
	var src []byte
	switch x := v.(type) {
	case json.RawMessage:
		src = x
	case []byte:
		src = x
	default:
		return v, nil
	}
	var out any
	if err := json.Unmarshal(src, &out); err != nil {
		return nil, fmt.Errorf("not a JSON document: %w", err)
	}
	return out, nil
}
