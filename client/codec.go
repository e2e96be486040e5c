package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/badbatch/badbatch/api"
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

// mpValue is a JSON document converted for MessagePack, object members in
// their order.
type mpObject []mpMember

type mpMember struct {
	key   string
	value any
}

func (o mpObject) EncodeMsgpack(e *msgpack.Encoder) error {
	if err := e.EncodeMapLen(len(o)); err != nil {
		return err
	}
	for _, m := range o {
		if err := e.EncodeString(m.key); err != nil {
			return err
		}
		if err := e.Encode(m.value); err != nil {
			return err
		}
	}
	return nil
}

var _ msgpack.CustomEncoder = mpObject(nil)

// jsonToMsgpackValue converts JSON text to a value MessagePack encodes as
// the same document: integers as integers, other numbers as floats,
// objects in order.
func jsonToMsgpackValue(src []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(src))
	d.UseNumber()
	v, err := tokenValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func tokenValue(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch x := t.(type) {
	case json.Delim:
		switch x {
		case '{':
			o := mpObject{}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				v, err := tokenValue(d)
				if err != nil {
					return nil, err
				}
				o = append(o, mpMember{key: kt.(string), value: v})
			}
			_, err := d.Token()
			return o, err
		case '[':
			a := []any{}
			for d.More() {
				v, err := tokenValue(d)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := d.Token()
			return a, err
		}
		return nil, fmt.Errorf("unexpected %v", x)
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return u, nil
		}
		return x.Float64()
	}
	return t, nil // string, bool, nil
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

// wireDisruptor decodes an api.Disruptor, whose schema field the api
// package only encodes.
type wireDisruptor struct {
	api.Disruptor
	Schema json.RawMessage `json:"schema,omitempty"`
}

func (w *wireDisruptor) value() api.Disruptor {
	d := w.Disruptor
	if len(w.Schema) > 0 && string(w.Schema) != "null" {
		d.Schema = []byte(w.Schema)
	}
	return d
}

type wireDisruptorList struct {
	Disruptors []wireDisruptor `json:"disruptors"`
	Next       string          `json:"next,omitempty"`
}
