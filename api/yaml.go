package api

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/badbatch/badbatch/engine"
)

// yamlDocument parses a single-document YAML body into its root node.
func yamlDocument(body []byte) (*yaml.Node, error) {
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

// yamlMapping checks n is a mapping and returns its key/value pairs.
func yamlMapping(n *yaml.Node, what string) ([]*yaml.Node, error) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, malformed("%s must be a mapping", what)
	}
	return n.Content, nil
}

// yamlString returns a scalar's text.
func yamlString(n *yaml.Node, what string) (string, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return "", malformed("%s must be a string", what)
	}
	return n.Value, nil
}

func isNullNode(n *yaml.Node) bool {
	n = deref(n)
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func (d *eventDecoder) yamlPublish(body []byte, multi bool) error {
	root, err := yamlDocument(body)
	if err != nil {
		return err
	}
	kv, err := yamlMapping(root, "the body")
	if err != nil {
		return err
	}
	var ev *engine.Event
	have, top := 0, 0
	for i := 0; i < len(kv); i += 2 {
		key, err := yamlString(kv[i], "a key")
		if err != nil {
			return err
		}
		v := kv[i+1]
		switch {
		case multi && key == "batches":
			if err := fieldSeen(&top, 1, "batches"); err != nil {
				return err
			}
			if err := d.yamlBatches(v); err != nil {
				return err
			}
		case !multi && key == "events":
			if err := fieldSeen(&top, 1, "events"); err != nil {
				return err
			}
			if err := d.yamlEvents(v); err != nil {
				return err
			}
		case !multi && isEventField([]byte(key)):
			if ev == nil {
				if ev, err = d.addEvent(); err != nil {
					return err
				}
			}
			if err := d.yamlEventField(v, ev, key, &have); err != nil {
				return err
			}
		default:
			return malformed("unknown field %q", key)
		}
	}
	if ev != nil {
		if top != 0 {
			return &decodeError{code: CodeValidation, msg: "give either events or one event's fields, not both"}
		}
		return d.checkEvent(have)
	}
	return nil
}

func (d *eventDecoder) yamlEvents(n *yaml.Node) error {
	if isNullNode(n) {
		return nil
	}
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		return malformed("events must be a sequence")
	}
	for _, e := range n.Content {
		kv, err := yamlMapping(e, "an event")
		if err != nil {
			return err
		}
		ev, err := d.addEvent()
		if err != nil {
			return err
		}
		have := 0
		for i := 0; i < len(kv); i += 2 {
			key, err := yamlString(kv[i], "a key")
			if err != nil {
				return err
			}
			if !isEventField([]byte(key)) {
				return malformed("unknown field %q in event %d", key, len(d.events)-1)
			}
			if err := d.yamlEventField(kv[i+1], ev, key, &have); err != nil {
				return err
			}
		}
		if err := d.checkEvent(have); err != nil {
			return err
		}
	}
	return nil
}

func (d *eventDecoder) yamlEventField(v *yaml.Node, ev *engine.Event, key string, have *int) error {
	switch key {
	case "payload":
		if err := fieldSeen(have, havePayload, "payload"); err != nil {
			return err
		}
		if n := deref(v); n.Kind == yaml.ScalarNode && n.ShortTag() == "!!binary" {
			return d.decodeBase64(stripSpace(n.Value))
		}
		off := len(d.arena)
		// Aliases may expand a small document into a big payload: the
		// budget stops the expansion not far past what an event may hold.
		c := yamlConverter{budget: 2*d.maxPayload + 4096}
		var err error
		if d.arena, err = c.appendJSON(d.arena, v, 0); err != nil {
			d.arena = d.arena[:off]
			return err
		}
		d.arenaPayload(off)
	case "payload_base64":
		if err := fieldSeen(have, haveBase64, "payload_base64"); err != nil {
			return err
		}
		if isNullNode(v) {
			*have |= base64Null
			return nil
		}
		s, err := yamlString(v, "payload_base64")
		if err != nil {
			return err
		}
		return d.decodeBase64([]byte(s))
	case "metadata":
		if err := fieldSeen(have, haveMeta, "metadata"); err != nil {
			return err
		}
		if isNullNode(v) {
			return nil
		}
		kv, err := yamlMapping(v, "metadata")
		if err != nil {
			return err
		}
		for i := 0; i < len(kv); i += 2 {
			k, err := yamlString(kv[i], "a metadata key")
			if err != nil {
				return err
			}
			val, err := yamlString(kv[i+1], "the metadata value of "+strconv.Quote(k))
			if err != nil {
				return err
			}
			if err := d.addMeta(ev, k, val); err != nil {
				return err
			}
		}
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

func (d *eventDecoder) yamlBatches(n *yaml.Node) error {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		return malformed("batches must be a sequence")
	}
	for _, e := range n.Content {
		kv, err := yamlMapping(e, "a batch")
		if err != nil {
			return err
		}
		b, err := d.addBatch()
		if err != nil {
			return err
		}
		have := 0
		for i := 0; i < len(kv); i += 2 {
			key, err := yamlString(kv[i], "a key")
			if err != nil {
				return err
			}
			v := kv[i+1]
			switch key {
			case "disruptor":
				if err := fieldSeen(&have, 1, "disruptor"); err != nil {
					return err
				}
				if b.disruptor, err = yamlString(v, "disruptor"); err != nil {
					return err
				}
			case "idempotency_key":
				if err := fieldSeen(&have, 2, "idempotency_key"); err != nil {
					return err
				}
				if isNullNode(v) {
					continue
				}
				if b.key, err = yamlString(v, "idempotency_key"); err != nil {
					return err
				}
			case "events":
				if err := fieldSeen(&have, 4, "events"); err != nil {
					return err
				}
				if err := d.yamlEvents(v); err != nil {
					return err
				}
			default:
				return malformed("unknown field %q in batch %d", key, len(d.batches)-1)
			}
		}
		if err := d.checkBatch(b, have); err != nil {
			return err
		}
	}
	return nil
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
		return dst, malformed("the yaml payload expands to too much data")
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
			dst = appendString(dst, k.Value)
			dst = append(dst, ':')
			if dst, err = c.appendJSON(dst, n.Content[i+1], depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case yaml.ScalarNode:
		if c.budget -= len(n.Value); c.budget < 0 {
			return dst, malformed("the yaml payload expands to too much data")
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
