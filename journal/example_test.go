package journal_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/badbatch/badbatch/disruptor"
	"github.com/badbatch/badbatch/journal"
)

type Trade struct {
	ID    int64
	Price int64
}

// encodeTrade is how a Trade is written to the journal.
func encodeTrade(ev *journal.Event, t *Trade, _ int64) journal.Head {
	ev.Payload = binary.LittleEndian.AppendUint64(ev.Payload, uint64(t.ID))
	ev.Payload = binary.LittleEndian.AppendUint64(ev.Payload, uint64(t.Price))
	return journal.Head{}
}

// The LMAX journaller: the first consumer writes every event to the
// journal, and the business logic runs after it. A producer that needs
// durability before it acknowledges waits for its sequence.
func ExampleJournaller() {
	dataDir, _ := os.MkdirTemp("", "journal-example")
	defer os.RemoveAll(dataDir)
	dir, err := journal.OpenDir(dataDir, journal.DirOptions{})
	if err != nil {
		panic(err)
	}
	defer dir.Close()
	opts := journal.DefaultOptions()
	opts.Sync = journal.SyncAlways // fsync before WaitFor returns
	j, err := dir.Create("trades", 0, nil, opts)
	if err != nil {
		panic(err)
	}

	d, _ := disruptor.NewBuilder(func() Trade { return Trade{} }).BufferSize(64).SingleProducer().Build()
	journaller, err := journal.NewJournaller(j, d.RingBuffer(), encodeTrade)
	if err != nil {
		panic(err)
	}
	var total int64
	logic := disruptor.EventHandlerFunc[Trade](func(t *Trade, _ int64, _ bool) error {
		total += t.Price // runs only once the trade is journaled
		return nil
	})
	d.HandleEventsWith(journaller).Then(logic)
	if err := d.Start(); err != nil {
		panic(err)
	}
	ring := d.RingBuffer()
	var last int64
	for i := range int64(5) {
		last = ring.Next()
		*ring.Get(last) = Trade{ID: i, Price: 100 + i}
		ring.Publish(last)
	}
	if _, err := journaller.WaitFor(context.Background(), last); err != nil {
		panic(err)
	}
	fmt.Println("journaled up to", journaller.Journaled())
	if err := d.Shutdown(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println("logic total", total)

	// Replay from the journal, beyond any ring.
	r, _ := j.NewReader(2)
	defer r.Close()
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		for i, ev := range b.Events {
			if seq := b.First + int64(i); seq >= 2 {
				fmt.Println("replayed", seq, int64(binary.LittleEndian.Uint64(ev.Payload[8:])))
			}
		}
	}
	// Output:
	// journaled up to 4
	// logic total 510
	// replayed 2 102
	// replayed 3 103
	// replayed 4 104
}

// A journal outlives the process: reopened, it continues the numbering.
func ExampleDir_Open() {
	dataDir, _ := os.MkdirTemp("", "journal-example")
	defer os.RemoveAll(dataDir)
	dir, _ := journal.OpenDir(dataDir, journal.DirOptions{})
	j, _ := dir.Create("orders", 1000, []byte(`{"buffer_size":1024}`), journal.DefaultOptions())
	batch := journal.Batch{First: j.Next(), Key: "order-7", Events: []journal.Event{{Payload: []byte(`{"qty":3}`)}, {Payload: []byte(`{"qty":4}`)}}}
	if err := j.Append(batch); err != nil {
		panic(err)
	}
	dir.Close()

	dir, _ = journal.OpenDir(dataDir, journal.DirOptions{})
	defer dir.Close()
	names, _ := dir.Streams()
	meta, _ := dir.Meta(names[0])
	j, _ = dir.Open(names[0], journal.DefaultOptions())
	fmt.Println(names, string(meta))
	fmt.Println("oldest", j.Oldest(), "latest", j.Latest(), "next", j.Next())
	r, _ := j.NewReader(j.Oldest())
	b, _ := r.Next()
	fmt.Println(b.First, b.Key, len(b.Events), string(b.Events[1].Payload))
	// Output:
	// [orders] {"buffer_size":1024}
	// oldest 1000 latest 1001 next 1002
	// 1000 order-7 2 {"qty":4}
}
