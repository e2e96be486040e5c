// Package wasmapi is the API that the WebAssembly builds export (the
// wasip1 module in bindings/wasm/wasip1, the browser module in
// bindings/wasm/js), in Go terms: disruptors and pollers by handle, events
// as byte slices, errors as bytering codes.
//
// # Single-threaded semantics
//
// A WebAssembly module has one thread, the host's, and every call runs on
// it to the end. So nothing here ever waits: a publish into a full ring
// returns [bytering.ErrFull] (the host polls, then publishes again), a
// poll with nothing to read returns no events, and there are no callback
// consumers, whose goroutines could only run while the host is inside a
// call. Consumers are pollers. Wait strategies that spin are refused when
// the module is made (see bytering), since nothing could publish while
// they spin.
package wasmapi

import (
	"context"
	"sync"

	"github.com/badbatch/badbatch/bindings/internal/bytering"
)

// table holds the live disruptors and pollers by handle. Handles start at
// 1 and are never reused; 0 is never valid.
var table struct {
	sync.Mutex
	next     int32
	rings    map[int32]*bytering.Ring
	pollers  map[int32]*poller
	children map[int32][]int32 // a disruptor's pollers, freed with it
}

type poller struct {
	p    *bytering.Poller
	ring int32
}

func add() int32 {
	if table.rings == nil {
		table.rings = map[int32]*bytering.Ring{}
		table.pollers = map[int32]*poller{}
		table.children = map[int32][]int32{}
	}
	table.next++
	return table.next
}

func ring(h int32) (*bytering.Ring, error) {
	table.Lock()
	defer table.Unlock()
	r := table.rings[h]
	if r == nil {
		return nil, bytering.ErrHandle
	}
	return r, nil
}

// New makes a disruptor of slots events of eventSize bytes and returns
// its handle. producer is "single" or "multi" ("" is single: one thread);
// wait is a parking wait strategy ("" is blocking).
func New(slots, eventSize int, producer, wait string) (int32, error) {
	if producer == "" {
		producer = "single"
	}
	r, err := bytering.New(bytering.Config{Slots: slots, EventSize: eventSize, Producer: producer, Wait: wait})
	if err != nil {
		return 0, err
	}
	table.Lock()
	defer table.Unlock()
	h := add()
	table.rings[h] = r
	return h, nil
}

// NewPoller adds a poller to disruptor h, before Start.
func NewPoller(h int32) (int32, error) {
	r, err := ring(h)
	if err != nil {
		return 0, err
	}
	p, err := r.NewPoller()
	if err != nil {
		return 0, err
	}
	table.Lock()
	defer table.Unlock()
	ph := add()
	table.pollers[ph] = &poller{p: p, ring: h}
	table.children[h] = append(table.children[h], ph)
	return ph, nil
}

// Start starts disruptor h: publishing may begin.
func Start(h int32) error {
	r, err := ring(h)
	if err != nil {
		return err
	}
	return r.Start()
}

// Publish copies p into the next slot and publishes it, returning its
// sequence, or ErrFull when the ring has no room.
func Publish(h int32, p []byte) (int64, error) {
	r, err := ring(h)
	if err != nil {
		return 0, err
	}
	return r.PublishCopy(p, false)
}

// PublishMany publishes len(lens) events in one claim (see
// bytering.Ring.PublishMany), returning the highest sequence, or ErrFull.
func PublishMany(h int32, data []byte, lens []uint32) (int64, error) {
	r, err := ring(h)
	if err != nil {
		return 0, err
	}
	if len(lens) == 0 {
		return 0, bytering.ErrClaim
	}
	return r.PublishMany(data, lens, false)
}

// Poll copies up to len(lens) events of poller p out (see
// bytering.Poller.Poll), without waiting.
func Poll(p int32, out []byte, lens []uint32) (first int64, n int, err error) {
	table.Lock()
	e := table.pollers[p]
	table.Unlock()
	if e == nil {
		return 0, 0, bytering.ErrHandle
	}
	return e.p.Poll(out, lens, 0)
}

// PollerFree stops poller p gating the producers and frees its handle.
func PollerFree(p int32) error {
	table.Lock()
	e := table.pollers[p]
	delete(table.pollers, p)
	table.Unlock()
	if e == nil {
		return bytering.ErrHandle
	}
	e.p.Close()
	return nil
}

// Shutdown stops publishing into disruptor h; its pollers read on until
// they have every event.
func Shutdown(h int32) error {
	r, err := ring(h)
	if err != nil {
		return err
	}
	return r.Shutdown(context.Background())
}

// Free frees disruptor h and its pollers.
func Free(h int32) error {
	table.Lock()
	r := table.rings[h]
	delete(table.rings, h)
	for _, ph := range table.children[h] {
		delete(table.pollers, ph)
	}
	delete(table.children, h)
	table.Unlock()
	if r == nil {
		return bytering.ErrHandle
	}
	r.Free()
	return nil
}

// Live is the number of live disruptors and pollers, for tests that check
// nothing leaks.
func Live() int {
	table.Lock()
	defer table.Unlock()
	return len(table.rings) + len(table.pollers)
}
