package replication

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/badbatch/badbatch/engine"
)

// The log entry format. An entry is one Raft log command: what the leader
// batched from concurrent proposals.
//
//	entry   = version(1) time(varint, Unix ns, leader's clock) count(uvarint) command*
//	command = [guard(1)=5 ring(uvarint)] op(1) name(string) body
//	publish = key(string) events(uvarint) event*
//	event   = flags(1, bit 0 binary) payload(bytes) metadata(uvarint) (key(string) value(string))*
//	create  = spec start(1)
//	spec    = buffer_size(uvarint) producer(string) wait(string) max_event_size(uvarint)
//	          overflow(1) publish_timeout(varint ns) schema(bytes)
//	          dedup_window(varint ns) dedup_max_keys(uvarint)
//	delete  = (nothing)
//	state   = state(1)
//	string, bytes = length(uvarint) then the bytes
//
// A guard names the ring a publish, delete or state change was made for:
// the index of the entry that created it (its identity, with the name).
// The state machine refuses a guarded command when the name is now
// another ring (deleted and created again meanwhile), so a change aimed
// at one incarnation of a name never lands in the next. A command
// without a guard (Node.Publish by name) goes to whatever ring has the
// name when it is applied.
//
// Each proposer encodes its own command (in its own goroutine), and the
// batcher only writes a header before the commands it gathered.
const entryVersion = 1

// op is a command's kind.
type op uint8

const (
	opPublish  op = 1
	opCreate   op = 2
	opDelete   op = 3
	opSetState op = 4
	// opGuard is not a command: it prefixes one with the ring it is for.
	opGuard op = 5
)

// ringSpec is what the catalog records of a replicated disruptor: its
// configuration with the engine's defaults resolved on the leader, and the
// idempotency window the FSM keeps for it. Recording the resolved values
// in the log makes every node build the same ring whatever its own
// defaults.
type ringSpec struct {
	Config      engine.DisruptorConfig
	DedupWindow time.Duration
	DedupMax    int
}

// command is one decoded command. Event payloads and metadata alias the
// entry's bytes.
type command struct {
	op     op
	name   string
	key    string         // publish
	events []engine.Event // publish
	spec   ringSpec       // create
	start  bool           // create
	state  engine.State   // set state
	// ring is the created index of the ring a guarded command is for; 0
	// for any ring of the name.
	ring uint64
}

// entry is a decoded log entry.
type entry struct {
	time int64 // Unix ns on the leader's clock
	cmds []command
}

// appendEntryHeader starts an entry of count commands stamped at t.
func appendEntryHeader(b []byte, t int64, count int) []byte {
	b = append(b, entryVersion)
	b = binary.AppendVarint(b, t)
	return binary.AppendUvarint(b, uint64(count))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// publishSize is an upper bound of the encoded size of a publish command.
func publishSize(name, key string, events []engine.Event) int {
	n := 2 + 4*binary.MaxVarintLen64 + len(name) + len(key) // guard, op, name, key, count
	for i := range events {
		e := &events[i]
		n += 1 + 2*binary.MaxVarintLen64 + len(e.Payload)
		for _, m := range e.Metadata {
			n += 2*binary.MaxVarintLen64 + len(m.Key) + len(m.Value)
		}
	}
	return n
}

// appendGuard prefixes the command that follows with the ring it is
// for (its created index); it writes nothing for 0 (any ring).
func appendGuard(b []byte, ring uint64) []byte {
	if ring == 0 {
		return b
	}
	b = append(b, byte(opGuard))
	return binary.AppendUvarint(b, ring)
}

// appendPublish encodes a publish command.
func appendPublish(b []byte, name, key string, events []engine.Event) []byte {
	b = append(b, byte(opPublish))
	b = appendString(b, name)
	b = appendString(b, key)
	b = binary.AppendUvarint(b, uint64(len(events)))
	for i := range events {
		b = appendEvent(b, &events[i])
	}
	return b
}

func appendEvent(b []byte, e *engine.Event) []byte {
	var flags byte
	if e.Binary {
		flags = 1
	}
	b = append(b, flags)
	b = appendBytes(b, e.Payload)
	b = binary.AppendUvarint(b, uint64(len(e.Metadata)))
	for _, m := range e.Metadata {
		b = appendString(b, m.Key)
		b = appendString(b, m.Value)
	}
	return b
}

// appendCreate encodes a create command.
func appendCreate(b []byte, s ringSpec, start bool) []byte {
	b = append(b, byte(opCreate))
	b = appendString(b, s.Config.Name)
	b = appendSpec(b, s)
	if start {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendSpec(b []byte, s ringSpec) []byte {
	c := &s.Config
	b = binary.AppendUvarint(b, uint64(c.BufferSize))
	b = appendString(b, c.ProducerType)
	b = appendString(b, c.WaitStrategy)
	b = binary.AppendUvarint(b, uint64(c.MaxEventSize))
	b = append(b, byte(c.Overflow))
	b = binary.AppendVarint(b, int64(c.PublishTimeout))
	b = appendBytes(b, c.Schema)
	b = binary.AppendVarint(b, int64(s.DedupWindow))
	return binary.AppendUvarint(b, uint64(s.DedupMax))
}

// appendDelete encodes a delete command.
func appendDelete(b []byte, name string) []byte {
	b = append(b, byte(opDelete))
	return appendString(b, name)
}

// appendSetState encodes a state change.
func appendSetState(b []byte, name string, s engine.State) []byte {
	b = append(b, byte(opSetState))
	b = appendString(b, name)
	return append(b, byte(s))
}

// decoder reads the format above. The first problem sticks in err and
// every later read returns zero values, so callers check err once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte(what string) byte {
	if len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items each at least min bytes long, refusing
// one the remaining bytes cannot hold (so a corrupt count never makes
// the decoder allocate much).
func (d *decoder) count(what string, min int) int {
	v := d.uvarint(what)
	if v > uint64(len(d.b)/min) {
		d.fail(what)
		return 0
	}
	return int(v)
}

// int reads a non-negative int that fits in 32 bits.
func (d *decoder) int(what string) int {
	v := d.uvarint(what)
	if v > 1<<31-1 {
		d.fail(what)
		return 0
	}
	return int(v)
}

// bytes returns the next length-prefixed bytes, aliasing the input.
func (d *decoder) bytes(what string) []byte {
	v := d.uvarint(what)
	if v > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	p := d.b[:v:v]
	d.b = d.b[v:]
	return p
}

func (d *decoder) string(what string) string { return string(d.bytes(what)) }

func (d *decoder) event(e *engine.Event) {
	flags := d.byte("event flags")
	if flags&^1 != 0 {
		d.fail("event flags")
		return
	}
	e.Binary = flags&1 != 0
	e.Payload = d.bytes("payload")
	if n := d.count("metadata count", 2); n > 0 {
		e.Metadata = make([]engine.Metadata, n)
		for i := range e.Metadata {
			e.Metadata[i] = engine.Metadata{Key: d.string("metadata key"), Value: d.string("metadata value")}
		}
	}
}

func (d *decoder) spec(name string) ringSpec {
	var s ringSpec
	c := &s.Config
	c.Name = name
	c.BufferSize = d.int("buffer size")
	c.ProducerType = d.string("producer type")
	c.WaitStrategy = d.string("wait strategy")
	c.MaxEventSize = d.int("max event size")
	c.Overflow = engine.OverflowPolicy(d.byte("overflow"))
	c.PublishTimeout = time.Duration(d.varint("publish timeout"))
	if schema := d.bytes("schema"); len(schema) > 0 {
		c.Schema = append([]byte(nil), schema...) // the catalog keeps it
	}
	s.DedupWindow = time.Duration(d.varint("dedup window"))
	s.DedupMax = d.int("dedup max keys")
	return s
}

// decodeEntry decodes a log entry. The events' payloads and metadata alias
// data.
func decodeEntry(data []byte) (entry, error) {
	d := decoder{b: data}
	if v := d.byte("version"); v != entryVersion && d.err == nil {
		return entry{}, fmt.Errorf("%w: entry version %d", ErrCorrupt, v)
	}
	e := entry{time: d.varint("time")}
	n := d.count("command count", 2)
	e.cmds = make([]command, n)
	for i := range e.cmds {
		d.command(&e.cmds[i])
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return entry{}, d.err
	}
	return e, nil
}

func (d *decoder) command(c *command) {
	c.op = op(d.byte("op"))
	if c.op == opGuard {
		if c.ring = d.uvarint("guard"); c.ring == 0 {
			d.fail("guard")
		}
		if c.op = op(d.byte("op")); c.op != opPublish && c.op != opDelete && c.op != opSetState {
			d.fail("guarded op")
		}
	}
	c.name = d.string("name")
	switch c.op {
	case opPublish:
		c.key = d.string("idempotency key")
		n := d.count("event count", 3)
		c.events = make([]engine.Event, n)
		for i := range c.events {
			d.event(&c.events[i])
		}
	case opCreate:
		c.spec = d.spec(c.name)
		switch d.byte("start") {
		case 0:
		case 1:
			c.start = true
		default:
			d.fail("start")
		}
	case opDelete:
	case opSetState:
		c.state = engine.State(d.byte("state"))
	default:
		d.fail("op")
	}
}
