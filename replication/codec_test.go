package replication

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/badbatch/badbatch/engine"
)

// sampleEntry is an entry with every kind of command.
func sampleEntry() []byte {
	spec := ringSpec{
		Config: engine.DisruptorConfig{Name: "orders", BufferSize: 1024, ProducerType: "single", WaitStrategy: "blocking",
			MaxEventSize: 4096, Overflow: engine.OverflowReject, PublishTimeout: time.Second, Schema: []byte(`{"type":"object"}`)},
		DedupWindow: 5 * time.Minute, DedupMax: 1000,
	}
	cmds := [][]byte{
		appendCreate(nil, spec, true),
		appendPublish(nil, "orders", "key-1", []engine.Event{
			{Payload: []byte(`{"id":1}`), Metadata: []engine.Metadata{{Key: "traceparent", Value: "00-abc"}, {Key: "k", Value: ""}}},
			{Payload: []byte{0, 1, 2}, Binary: true},
			{},
		}),
		appendSetState(nil, "orders", engine.StatePaused),
		appendDelete(nil, "orders"),
		appendPublish(appendGuard(nil, 7), "orders", "", []engine.Event{{Payload: []byte(`2`)}}),
		appendSetState(appendGuard(nil, 7), "orders", engine.StateRunning),
		appendDelete(appendGuard(nil, 1<<40), "orders"),
	}
	b := appendEntryHeader(nil, 1_700_000_000_000_000_000, len(cmds))
	for _, c := range cmds {
		b = append(b, c...)
	}
	return b
}

// encodeEntry encodes a decoded entry again.
func encodeEntry(e entry) []byte {
	b := appendEntryHeader(nil, e.time, len(e.cmds))
	for _, c := range e.cmds {
		b = appendGuard(b, c.ring)
		switch c.op {
		case opPublish:
			b = appendPublish(b, c.name, c.key, c.events)
		case opCreate:
			b = appendCreate(b, c.spec, c.start)
		case opDelete:
			b = appendDelete(b, c.name)
		case opSetState:
			b = appendSetState(b, c.name, c.state)
		}
	}
	return b
}

func TestEntryRoundTrip(t *testing.T) {
	data := sampleEntry()
	e, err := decodeEntry(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.cmds) != 7 || e.cmds[0].spec.Config.Name != "orders" || !e.cmds[0].start ||
		e.cmds[1].key != "key-1" || len(e.cmds[1].events) != 3 || !e.cmds[1].events[1].Binary ||
		e.cmds[2].state != engine.StatePaused || e.cmds[3].op != opDelete || e.cmds[3].ring != 0 ||
		e.cmds[4].op != opPublish || e.cmds[4].ring != 7 || e.cmds[5].op != opSetState || e.cmds[5].ring != 7 ||
		e.cmds[6].op != opDelete || e.cmds[6].ring != 1<<40 {
		t.Fatalf("decoded %+v", e)
	}
	// A guard of 0, a guard of a create, and two guards are refused.
	for _, c := range [][]byte{
		{byte(opGuard), 0, byte(opDelete), 1, 'q'},
		append([]byte{byte(opGuard), 3}, appendCreate(nil, ringSpec{Config: engine.DisruptorConfig{Name: "q"}}, true)...),
		{byte(opGuard), 3, byte(opGuard), 3, byte(opDelete), 1, 'q'},
	} {
		if _, err := decodeEntry(append(appendEntryHeader(nil, 0, 1), c...)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decoding the command %x: %v, want ErrCorrupt", c, err)
		}
	}
	if again := encodeEntry(e); !bytes.Equal(again, data) {
		t.Fatalf("re-encoded differently:\n%x\n%x", again, data)
	}
	if n := publishSize("orders", "key-1", e.cmds[1].events); n < len(appendPublish(appendGuard(nil, 1<<62), "orders", "key-1", e.cmds[1].events)) {
		t.Fatalf("publishSize %d is not an upper bound", n)
	}
	// Every truncation is refused, never misread.
	for i := range len(data) {
		if _, err := decodeEntry(data[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decoding %d of %d bytes: %v, want ErrCorrupt", i, len(data), err)
		}
	}
	if _, err := decodeEntry(append(data, 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: %v", err)
	}
	bad := bytes.Clone(data)
	bad[0] = 9
	if _, err := decodeEntry(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown version: %v", err)
	}
}

// FuzzDecodeEntry checks that no input makes the decoder panic or
// allocate without bound, and that whatever it accepts encodes to
// something it decodes the same way.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(sampleEntry())
	f.Add(appendEntryHeader(nil, 0, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEntry(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		e2, err := decodeEntry(encodeEntry(e))
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if diff := cmp.Diff(e, e2, cmp.AllowUnexported(entry{}, command{}, ringSpec{})); diff != "" {
			t.Fatalf("round trip differs: %s", diff)
		}
	})
}

// sampleSnapshot is the snapshot of a small state machine.
func sampleSnapshot(t testing.TB) []byte {
	eng := newTestEngine(t)
	defer eng.Close(t.Context())
	f := newFSM(t.Context(), eng, discardLogger)
	ts := int64(time.Hour)
	for _, cmds := range [][][]byte{
		{createCmd("a", 4, true), createCmd("b", 4, false)},
		{pubCmd("a", "k", "1", "2", "3"), pubCmd("a", "", "4", "5")},
	} {
		data := appendEntryHeader(nil, ts, len(cmds))
		for _, c := range cmds {
			data = append(data, c...)
		}
		e, err := decodeEntry(data)
		if err != nil {
			t.Fatal(err)
		}
		f.apply(e, 1)
	}
	data, err := f.encodeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestSnapshotDecode(t *testing.T) {
	data := sampleSnapshot(t)
	s, err := decodeSnapshot(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.rings) != 2 || s.rings[0].next != 5 || len(s.rings[0].events) != 4 || len(s.rings[0].keys) != 1 || s.rings[1].state != engine.StateCreated {
		t.Fatalf("decoded %+v", s)
	}
	for i := range len(data) {
		if _, err := decodeSnapshot(data[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decoding %d of %d bytes: %v, want ErrCorrupt", i, len(data), err)
		}
	}
}

// FuzzDecodeSnapshot checks that no input makes the snapshot decoder panic
// or allocate without bound.
func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(sampleSnapshot(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := decodeSnapshot(data); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v is not ErrCorrupt", err)
		}
	})
}
