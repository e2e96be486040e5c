package cluster

import (
	"encoding/binary"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// MetaMaxSize is memberlist's limit on a node's metadata, in bytes.
const MetaMaxSize = memberlist.MetaMaxSize

// NodeState is a node's own account of its lifecycle, gossiped in its
// metadata. Only [NodeReady] nodes are routed to. It is distinct from the
// [MemberState] the failure detector gives it.
type NodeState uint8

// The node states. The zero value means "not known" (metadata from a newer
// node, or none).
const (
	// NodeStarting: the node is up but not serving its API yet.
	NodeStarting NodeState = iota + 1
	// NodeReady: the node serves its API and the disruptors it lists.
	NodeReady
	// NodeLeaving: the node is leaving the cluster gracefully; when it
	// disappears it is shown as left, not dead.
	NodeLeaving
)

var nodeStateNames = [...]string{"", "starting", "ready", "leaving"}

// String returns "starting", "ready", "leaving" or "unknown".
func (s NodeState) String() string {
	if int(s) < len(nodeStateNames) && s != 0 {
		return nodeStateNames[s]
	}
	return "unknown"
}

// MarshalText encodes the state as its name.
func (s NodeState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a state name.
func (s *NodeState) UnmarshalText(b []byte) error {
	for i, n := range nodeStateNames {
		if i > 0 && strings.EqualFold(n, string(b)) {
			*s = NodeState(i)
			return nil
		}
	}
	if string(b) == "unknown" {
		*s = 0
		return nil
	}
	return fmt.Errorf("cluster: unknown node state %q", b)
}

// Meta is what a node tells the cluster about itself, gossiped with its
// membership (memberlist's node metadata). It is eventually consistent:
// other members see a change after it has been gossiped to them, usually
// within a few gossip intervals.
//
// The node id is not part of it: it is the member's name ([Member.ID]).
// Meta is a value; [Member] gives each caller its own copy, slices
// included.
type Meta struct {
	// APIAddr is the host:port of the node's REST API.
	APIAddr string `json:"api_addr,omitempty"`
	// APIScheme is "http" or "https"; empty is taken as "http".
	APIScheme string `json:"api_scheme,omitempty"`
	// Version is the node's software version.
	Version string `json:"version,omitempty"`
	// State is the node's lifecycle state.
	State NodeState `json:"node_state"`
	// StartedAt is when the node's process started the cluster node, to
	// the millisecond. A restart with the same id shows as a new StartedAt.
	StartedAt time.Time `json:"started_at,omitzero"`
	// Disruptors are the names of the disruptors the node hosts, sorted.
	Disruptors []string `json:"disruptors"`
	// Tags are free-form key/value pairs for other modules (replication
	// will put its Raft address here).
	Tags map[string]string `json:"tags,omitempty"`
}

// Hosts reports whether the node lists the disruptor.
func (m *Meta) Hosts(name string) bool {
	_, ok := slices.BinarySearch(m.Disruptors, name)
	return ok
}

// clone returns a deep copy.
func (m Meta) clone() Meta {
	m.Disruptors = slices.Clone(m.Disruptors)
	m.Tags = maps.Clone(m.Tags)
	return m
}

// The metadata wire format, version 1. A version byte, then fields as
// tag (1 byte), length (uvarint), value. Decoders skip tags they do not
// know, so fields can be added without a new version; tags 64 and up are
// reserved for other modules' fields. Strings are raw bytes.
//
//	tagAPIAddr    string
//	tagAPIScheme  1 byte: 0 http, 1 https
//	tagVersion    string
//	tagState      1 byte: NodeState
//	tagStartedAt  varint: Unix milliseconds
//	tagDisruptors uvarint count, then per name (sorted) front-coded:
//	              uvarint bytes shared with the previous name, uvarint
//	              suffix length, suffix
//	tagTags       uvarint count, then per pair (sorted by key): uvarint key
//	              length, key, uvarint value length, value
//
// Front coding makes families of names ("orders-eu-1", "orders-eu-2")
// cost a few bytes each; see [MetaMaxSize] for the budget.
const metaVersion1 = 1

const (
	tagAPIAddr    = 1
	tagAPIScheme  = 2
	tagVersion    = 3
	tagState      = 4
	tagStartedAt  = 5
	tagDisruptors = 6
	tagTags       = 7
)

// maxMetaStrings bounds the counts a decoder believes, so a malicious
// length cannot make it allocate much.
const maxMetaStrings = MetaMaxSize

// disruptorNameRE is the engine's rule for disruptor names.
var disruptorNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// normalize sorts and deduplicates the disruptor names and checks the
// fields that have rules.
func (m Meta) normalize() (Meta, error) {
	m = m.clone()
	slices.Sort(m.Disruptors)
	m.Disruptors = slices.Compact(m.Disruptors)
	for _, d := range m.Disruptors {
		if !disruptorNameRE.MatchString(d) {
			return Meta{}, fmt.Errorf("%w: disruptor name %q", ErrInvalidMeta, d)
		}
	}
	switch m.APIScheme {
	case "":
		m.APIScheme = "http"
	case "http", "https":
	default:
		return Meta{}, fmt.Errorf("%w: API scheme %q (want http or https)", ErrInvalidMeta, m.APIScheme)
	}
	if m.Disruptors == nil {
		m.Disruptors = []string{}
	}
	if len(m.Tags) == 0 {
		m.Tags = nil
	}
	return m, nil
}

// EncodeMeta encodes m in the compact wire format, normalising it first
// (disruptor names sorted and deduplicated). It fails with
// [ErrInvalidMeta] for a value that breaks the rules, and with a
// [*MetaSizeError] when the result exceeds [MetaMaxSize].
func EncodeMeta(m Meta) ([]byte, error) {
	m, err := m.normalize()
	if err != nil {
		return nil, err
	}
	b := encodeMeta(nil, m)
	if len(b) > MetaMaxSize {
		return nil, &MetaSizeError{Size: len(b), Limit: MetaMaxSize, Disruptors: len(m.Disruptors)}
	}
	return b, nil
}

// encodeMeta appends the encoding of a normalised m to b.
func encodeMeta(b []byte, m Meta) []byte {
	b = append(b, metaVersion1)
	field := func(tag byte, v []byte) {
		b = append(b, tag)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	if m.APIAddr != "" {
		field(tagAPIAddr, []byte(m.APIAddr))
	}
	if m.APIScheme == "https" {
		field(tagAPIScheme, []byte{1})
	}
	if m.Version != "" {
		field(tagVersion, []byte(m.Version))
	}
	if m.State != 0 {
		field(tagState, []byte{byte(m.State)})
	}
	if !m.StartedAt.IsZero() {
		field(tagStartedAt, binary.AppendVarint(nil, m.StartedAt.UnixMilli()))
	}
	if len(m.Disruptors) > 0 {
		var v []byte
		v = binary.AppendUvarint(v, uint64(len(m.Disruptors)))
		prev := ""
		for _, d := range m.Disruptors {
			shared := commonPrefix(prev, d)
			v = binary.AppendUvarint(v, uint64(shared))
			v = binary.AppendUvarint(v, uint64(len(d)-shared))
			v = append(v, d[shared:]...)
			prev = d
		}
		field(tagDisruptors, v)
	}
	if len(m.Tags) > 0 {
		var v []byte
		v = binary.AppendUvarint(v, uint64(len(m.Tags)))
		for _, k := range slices.Sorted(maps.Keys(m.Tags)) {
			v = binary.AppendUvarint(v, uint64(len(k)))
			v = append(v, k...)
			v = binary.AppendUvarint(v, uint64(len(m.Tags[k])))
			v = append(v, m.Tags[k]...)
		}
		field(tagTags, v)
	}
	return b
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// DecodeMeta decodes node metadata. Empty input is an empty Meta (a node
// that gossips none). Fields it does not know are skipped; anything
// malformed is an [ErrInvalidMeta] error. Inputs longer than
// [MetaMaxSize] are refused.
func DecodeMeta(b []byte) (Meta, error) {
	m := Meta{APIScheme: "http"}
	if len(b) == 0 {
		m.Disruptors = []string{}
		return m, nil
	}
	if len(b) > MetaMaxSize {
		return Meta{}, fmt.Errorf("%w: %d bytes, over %d", ErrInvalidMeta, len(b), MetaMaxSize)
	}
	if b[0] != metaVersion1 {
		return Meta{}, fmt.Errorf("%w: unknown format version %d", ErrInvalidMeta, b[0])
	}
	r := metaReader{b: b[1:]}
	for len(r.b) > 0 && r.err == nil {
		tag := r.byte()
		v := r.bytes()
		if r.err != nil {
			break
		}
		f := metaReader{b: v}
		switch tag {
		case tagAPIAddr:
			m.APIAddr = string(v)
		case tagAPIScheme:
			if s := f.byte(); s == 1 {
				m.APIScheme = "https"
			} else {
				m.APIScheme = "http"
			}
		case tagVersion:
			m.Version = string(v)
		case tagState:
			m.State = NodeState(f.byte())
		case tagStartedAt:
			ms := f.varint()
			if f.err == nil {
				m.StartedAt = time.UnixMilli(ms)
			}
		case tagDisruptors:
			m.Disruptors = f.frontCoded()
		case tagTags:
			m.Tags = f.pairs()
		default:
			continue // a field from a newer node
		}
		if f.err == nil && len(f.b) > 0 && tag != tagAPIAddr && tag != tagVersion {
			f.err = fmt.Errorf("%d trailing bytes in field %d", len(f.b), tag)
		}
		if f.err != nil {
			r.err = f.err
		}
	}
	if r.err != nil {
		return Meta{}, fmt.Errorf("%w: %v", ErrInvalidMeta, r.err)
	}
	if m.Disruptors == nil {
		m.Disruptors = []string{}
	}
	return m, nil
}

// metaReader reads the wire format, remembering the first error.
type metaReader struct {
	b   []byte
	err error
}

func (r *metaReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
	r.b = nil
}

func (r *metaReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *metaReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *metaReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes reads a uvarint length and that many bytes.
func (r *metaReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("length %d beyond the %d bytes left", n, len(r.b))
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// count reads a uvarint count and checks it is plausible.
func (r *metaReader) count() int {
	n := r.uvarint()
	if r.err == nil && n > maxMetaStrings {
		r.fail("count %d too large", n)
	}
	return int(n)
}

// frontCoded reads a front-coded list of names.
func (r *metaReader) frontCoded() []string {
	n := r.count()
	out := make([]string, 0, n)
	prev := ""
	for range n {
		shared := r.uvarint()
		if r.err == nil && shared > uint64(len(prev)) {
			r.fail("shared prefix %d longer than the previous name", shared)
		}
		suffix := r.bytes()
		if r.err != nil {
			return nil
		}
		name := prev[:shared] + string(suffix)
		if name <= prev && len(out) > 0 {
			r.fail("names not sorted")
			return nil
		}
		out = append(out, name)
		prev = name
	}
	return out
}

// pairs reads key/value pairs.
func (r *metaReader) pairs() map[string]string {
	n := r.count()
	if n == 0 || r.err != nil {
		return nil
	}
	out := make(map[string]string, n)
	for range n {
		k := string(r.bytes())
		v := string(r.bytes())
		if r.err != nil {
			return nil
		}
		out[k] = v
	}
	return out
}
