package api

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/badbatch/badbatch/engine"
)

// yamlDocument parses a single-document YAML body into its root node.
// The whole body must be UTF-8: the offset of the first invalid byte is
// given otherwise.
func yamlDocument(body []byte) (*yaml.Node, error) {
	if !utf8.Valid(body) {
		return nil, &syntaxError{msg: "invalid UTF-8", offset: invalidUTF8(body)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(body))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, malformed("the request body is empty")
		}
		return nil, malformed("the yaml body does not decode: %v", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, malformed("the yaml body holds more than one document")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, malformed("the yaml body is empty")
	}
	return deref(doc.Content[0]), nil
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < maxNestingDepth; i++ {
		n = n.Alias
	}
	return n
}

// yamlReader is the tokenReader of a YAML document, over the node tree
// yaml.v3 decodes it to (aliases followed).
type yamlReader struct {
	root  *yaml.Node // the document's value
	cur   *yaml.Node // the value that comes next; nil once it is read
	stack []yamlFrame
}

// yamlFrame is a mapping or sequence being read: its node, and the index
// of the next member in its Content.
type yamlFrame struct {
	n *yaml.Node
	i int
}

// reset makes r read the document whose root is root.
func (r *yamlReader) reset(root *yaml.Node) { r.root, r.cur, r.stack = root, root, r.stack[:0] }

// take returns the value that comes next and marks it read.
func (r *yamlReader) take() *yaml.Node {
	n := r.cur
	r.cur = nil
	if n == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	return deref(n)
}

func (r *yamlReader) kind() kind {
	if r.cur == nil {
		return kindEnd
	}
	n := deref(r.cur)
	switch {
	case n.Kind == yaml.MappingNode:
		return kindMap
	case n.Kind == yaml.SequenceNode:
		return kindArray
	case n.Kind != yaml.ScalarNode:
		return kindOther
	case n.ShortTag() == "!!null":
		return kindNull
	case n.ShortTag() == "!!binary":
		return kindBinary
	}
	return kindString
}

func (r *yamlReader) mapStart() error {
	n := r.take()
	if n.Kind != yaml.MappingNode {
		return malformed("line %d: a mapping is expected", n.Line)
	}
	r.stack = append(r.stack, yamlFrame{n: n})
	return nil
}

func (r *yamlReader) mapKey() ([]byte, bool, error) {
	f := &r.stack[len(r.stack)-1]
	if f.i >= len(f.n.Content) {
		r.stack = r.stack[:len(r.stack)-1]
		return nil, false, nil
	}
	k := deref(f.n.Content[f.i])
	r.cur = f.n.Content[f.i+1]
	f.i += 2
	if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" {
		return nil, false, malformed("line %d: keys must be strings", k.Line)
	}
	if !utf8.ValidString(k.Value) {
		return nil, false, malformed("line %d: a key is not valid UTF-8", k.Line)
	}
	return []byte(k.Value), true, nil
}

func (r *yamlReader) arrayStart() error {
	n := r.take()
	if n.Kind != yaml.SequenceNode {
		return malformed("line %d: a sequence is expected", n.Line)
	}
	r.stack = append(r.stack, yamlFrame{n: n})
	return nil
}

func (r *yamlReader) arrayNext() (bool, error) {
	f := &r.stack[len(r.stack)-1]
	if f.i >= len(f.n.Content) {
		r.stack = r.stack[:len(r.stack)-1]
		return false, nil
	}
	r.cur = f.n.Content[f.i]
	f.i++
	return true, nil
}

func (r *yamlReader) null() bool {
	if r.kind() == kindNull {
		r.cur = nil
		return true
	}
	return false
}

func (r *yamlReader) str() ([]byte, error) {
	n := r.take()
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return nil, malformed("line %d: a string is expected", n.Line)
	}
	if !utf8.ValidString(n.Value) {
		return nil, malformed("line %d: the string is not valid UTF-8", n.Line)
	}
	return []byte(n.Value), nil
}

// skip passes over the value: the parser has checked it.
func (r *yamlReader) skip() error {
	r.cur = nil
	return nil
}

func (r *yamlReader) payload(d *eventDecoder, ev *engine.Event) error {
	n := r.take()
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!binary" {
		return d.decodeBase64(stripSpace(n.Value))
	}
	// Aliases may expand a small document into a big payload: the budget
	// stops the expansion at what the event and the request may hold.
	return d.convert(func(dst []byte, limit int) ([]byte, error) {
		c := yamlConverter{budget: limit - len(dst)}
		return c.appendJSON(dst, n, 0)
	})
}

func (r *yamlReader) end() error {
	if len(r.stack) > 0 || r.cur != nil {
		return malformed("the yaml document has more after its value")
	}
	return nil
}

// stripSpace drops the whitespace a !!binary scalar may be folded with.
func stripSpace(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			out = append(out, c)
		}
	}
	return out
}

// yamlConverter turns a YAML node into JSON text. Aliases are expanded,
// within a budget of output bytes, so a "billion laughs" document fails
// instead of eating the memory.
type yamlConverter struct{ budget int }

func (c *yamlConverter) appendJSON(dst []byte, n *yaml.Node, depth int) ([]byte, error) {
	if depth > maxNestingDepth {
		return dst, malformed("the yaml payload nests too deeply")
	}
	if c.budget -= 8; c.budget < 0 {
		return dst, errConvertLimit
	}
	var err error
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return dst, malformed("unknown yaml alias")
		}
		return c.appendJSON(dst, n.Alias, depth+1)
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return dst, malformed("empty yaml document")
		}
		return c.appendJSON(dst, n.Content[0], depth+1)
	case yaml.SequenceNode:
		dst = append(dst, '[')
		for i, e := range n.Content {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = c.appendJSON(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case yaml.MappingNode:
		dst = append(dst, '{')
		for i := 0; i < len(n.Content); i += 2 {
			if i > 0 {
				dst = append(dst, ',')
			}
			k := deref(n.Content[i])
			if k.Kind != yaml.ScalarNode {
				return dst, malformed("yaml mapping keys must be scalars to convert to JSON")
			}
			if !utf8.ValidString(k.Value) {
				return dst, malformed("line %d: a key is not valid UTF-8", k.Line)
			}
			dst = appendString(dst, k.Value)
			dst = append(dst, ':')
			if dst, err = c.appendJSON(dst, n.Content[i+1], depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case yaml.ScalarNode:
		if c.budget -= len(n.Value); c.budget < 0 {
			return dst, errConvertLimit
		}
		if !utf8.ValidString(n.Value) {
			return dst, malformed("line %d: the scalar is not valid UTF-8", n.Line)
		}
		return appendYAMLScalar(dst, n)
	}
	return dst, malformed("unsupported yaml node")
}

// appendYAMLScalar appends a scalar's JSON form by its resolved tag.
func appendYAMLScalar(dst []byte, n *yaml.Node) ([]byte, error) {
	switch n.ShortTag() {
	case "!!null":
		return append(dst, "null"...), nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return dst, malformed("yaml boolean %q: %v", n.Value, err)
		}
		return strconv.AppendBool(dst, b), nil
	case "!!int":
		var v any
		if err := n.Decode(&v); err != nil {
			return dst, malformed("yaml integer %q: %v", n.Value, err)
		}
		switch x := v.(type) {
		case int:
			return strconv.AppendInt(dst, int64(x), 10), nil
		case int64:
			return strconv.AppendInt(dst, x, 10), nil
		case uint64:
			return strconv.AppendUint(dst, x, 10), nil
		case float64:
			return appendFloat(dst, x, 64, &mpReader{})
		}
		return dst, malformed("yaml integer %q is out of range", n.Value)
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return dst, malformed("yaml float %q: %v", n.Value, err)
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return dst, malformed("yaml float %q has no JSON form", n.Value)
		}
		return appendFloat(dst, f, 64, &mpReader{})
	case "!!binary":
		var s string
		if err := n.Decode(&s); err != nil {
			return dst, malformed("yaml binary: %v", err)
		}
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, []byte(s))
		return append(dst, '"'), nil
	default: // !!str, !!timestamp and custom tags: the text as written
		return appendString(dst, n.Value), nil
	}
}
