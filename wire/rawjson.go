package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
	"go.yaml.in/yaml/v3"
)

// RawJSON is a JSON document carried as its text (a disruptor's schema).
// It encodes as itself in JSON and as the document it holds, object
// members in their order, in YAML and MessagePack; it decodes from JSON.
// An empty RawJSON is null.
type RawJSON []byte

// MarshalJSON returns r, or null when r is empty.
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// UnmarshalJSON keeps a copy of the document; null leaves r empty.
func (r *RawJSON) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*r = nil
		return nil
	}
	*r = append((*r)[:0], b...)
	return nil
}

// MarshalYAML returns the document as a *yaml.Node.
func (r RawJSON) MarshalYAML() (any, error) {
	if len(r) == 0 {
		return nil, nil
	}
	return convertJSON(r, yamlBuilder{})
}

// EncodeMsgpack writes the document as native MessagePack values.
func (r RawJSON) EncodeMsgpack(e *msgpack.Encoder) error {
	if len(r) == 0 {
		return e.EncodeNil()
	}
	v, err := MsgpackValue(r)
	if err != nil {
		return err
	}
	return e.Encode(v)
}

var (
	_ json.Marshaler          = RawJSON(nil)
	_ json.Unmarshaler        = (*RawJSON)(nil)
	_ yaml.Marshaler          = RawJSON(nil)
	_ msgpack.CustomEncoder   = RawJSON(nil)
	_ jsonBuilder[*yaml.Node] = yamlBuilder{}
	_ jsonBuilder[any]        = msgpackBuilder{}
)

// MsgpackValue converts JSON text to a value vmihailenco/msgpack encodes
// as the same document: integers as integers, other numbers as floats,
// objects as maps in their order.
func MsgpackValue(src []byte) (any, error) { return convertJSON(src, msgpackBuilder{}) }

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// jsonBuilder builds a T from the tokens of a JSON document.
type jsonBuilder[T any] interface {
	object(keys []string, values []T) T
	array(values []T) T
	// scalar converts a string, json.Number, bool or nil token.
	scalar(tok json.Token) (T, error)
}

// convertJSON builds the value of the JSON document src with b.
func convertJSON[T any](src []byte, b jsonBuilder[T]) (T, error) {
	d := json.NewDecoder(bytes.NewReader(src))
	d.UseNumber()
	v, err := convertValue(d, b, 0)
	if err == nil {
		if _, terr := d.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON value")
		}
	}
	return v, err
}

func convertValue[T any](d *json.Decoder, b jsonBuilder[T], depth int) (T, error) {
	var zero T
	tok, err := d.Token()
	if err != nil {
		return zero, err
	}
	delim, isDelim := tok.(json.Delim)
	if !isDelim {
		return b.scalar(tok)
	}
	if depth >= maxDepth {
		return zero, errors.New("exceeded max depth")
	}
	var keys []string
	values := []T{}
	for d.More() {
		if delim == '{' {
			k, err := d.Token()
			if err != nil {
				return zero, err
			}
			keys = append(keys, k.(string))
		}
		v, err := convertValue(d, b, depth+1)
		if err != nil {
			return zero, err
		}
		values = append(values, v)
	}
	if _, err := d.Token(); err != nil {
		return zero, err
	}
	if delim == '{' {
		return b.object(keys, values), nil
	}
	return b.array(values), nil
}

// yamlBuilder builds yaml.Node trees.
type yamlBuilder struct{}

func (yamlBuilder) object(keys []string, values []*yaml.Node) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: make([]*yaml.Node, 0, 2*len(keys))}
	for i, k := range keys {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, values[i])
	}
	return n
}

func (yamlBuilder) array(values []*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: values}
}

func (yamlBuilder) scalar(tok json.Token) (*yaml.Node, error) {
	n := &yaml.Node{Kind: yaml.ScalarNode}
	switch x := tok.(type) {
	case string:
		n.Tag, n.Value = "!!str", x
	case json.Number:
		n.Tag, n.Value = "!!int", string(x)
		if strings.ContainsAny(string(x), ".eE") {
			n.Tag = "!!float"
		}
	case bool:
		n.Tag, n.Value = "!!bool", strconv.FormatBool(x)
	case nil:
		n.Tag, n.Value = "!!null", "null"
	default:
		return nil, fmt.Errorf("unexpected JSON token %v", tok)
	}
	return n, nil
}

// msgpackBuilder builds values vmihailenco/msgpack encodes.
type msgpackBuilder struct{}

func (msgpackBuilder) object(keys []string, values []any) any {
	o := make(mpObject, len(keys))
	for i, k := range keys {
		o[i] = mpMember{key: k, value: values[i]}
	}
	return o
}

func (msgpackBuilder) array(values []any) any { return values }

func (msgpackBuilder) scalar(tok json.Token) (any, error) {
	x, ok := tok.(json.Number)
	if !ok {
		return tok, nil // string, bool, nil
	}
	if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
		return i, nil
	}
	if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
		return u, nil
	}
	return x.Float64()
}

// mpObject is a JSON object for MessagePack, members in their order.
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
