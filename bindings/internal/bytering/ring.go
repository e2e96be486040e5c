// Package bytering is the core that every language binding exports: a
// disruptor of fixed-size byte events, built on the disruptor package's
// public API.
//
// # The model
//
// A [Ring] has Slots events of EventSize bytes each, and beside every event
// its length (at most EventSize). Event seq lives in slot seq & (Slots-1):
// its bytes are Data()[i*EventSize : (i+1)*EventSize] and its length
// Lengths()[i]. The memory comes from [Config.Alloc], so that the C binding
// can hand out pointers into C memory that C may keep for as long as it
// owns a slot.
//
// Producers claim slots ([Ring.Next], [Ring.TryNext]), fill them in place
// ([Ring.Event], [Ring.Write], [Ring.SetLength]) and publish them
// ([Ring.PublishRange]); or copy and publish in one call
// ([Ring.PublishCopy], [Ring.PublishMany]). Consumers are added before
// [Ring.Start]: a [Handler] called with each batch on a goroutine of its
// own ([Ring.HandleEvents]), or a [Poller] that the caller polls, copying
// events out ([Poller.Poll]).
//
// # Shutdown
//
// [Ring.Shutdown] stops new claims (they return [ErrShutdown]), waits for
// the claims in progress to be published and for every handler to handle
// every published event, then stops the handlers. A producer waiting for
// room gives up with [ErrShutdown] rather than holding the shutdown, and
// with [ErrHalted] when a handler has failed, since its events can then
// never drain: claims wait in [disruptor.RingBuffer.NextNCtx], with a
// context that Shutdown cancels.
// Pollers read on after Shutdown until they have every event published,
// then report ErrShutdown.
//
// # Threads
//
// Claims and publishes follow the producer type: with "single", one
// goroutine (or thread) at a time, with a happens-before edge between
// successive producers. Each Poller is polled by one goroutine at a time.
// Start, Shutdown, Halt and Free may be called from any goroutine; Free
// must be the last call.
//
// On GOARCH=wasm, where Go has one thread, the wait strategies that spin
// (busy_spin, yielding, sleeping, phased_backoff) are refused: nothing else
// could run while they spin.
package bytering

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/badbatch/badbatch/disruptor"
)

// Limits of a Config.
const (
	// MaxEventSize is the largest EventSize: 1 MiB.
	MaxEventSize = 1 << 20
	// MaxRingBytes is the most memory one ring may take: 16 GiB.
	MaxRingBytes = 1 << 34
)

// Config is what a Ring is made from.
type Config struct {
	// Slots is the number of events in the ring: a power of 2 from 1 to
	// disruptor.MaxBufferSize.
	Slots int
	// EventSize is the size of every slot in bytes, 1 to MaxEventSize.
	EventSize int
	// Producer is "single" (one producer at a time) or "multi"; "" is
	// "multi".
	Producer string
	// Wait is the consumers' wait strategy by its config name (see
	// disruptor.ParseWaitStrategy); "" is "blocking".
	Wait string
	// Alloc returns n zeroed bytes for the events and their lengths, and
	// Release returns them once the ring is freed. Nil means Go memory.
	Alloc   func(n int) ([]byte, error)
	Release func([]byte)
	// LockThreads runs each handler on an OS thread of its own for the
	// handler's life, so that a C callback always sees the same thread.
	LockThreads bool
}

// lifecycle states of a Ring.
const (
	declaring int32 = iota
	running
	closing // Shutdown has begun: no new claims
	closed  // Shutdown or Halt is done: the handlers have stopped
)

// slot is the disruptor's event type: nothing, since the bytes live in
// the ring's own memory, indexed by sequence.
type slot struct{}

// Ring is a disruptor of byte events. It is safe for concurrent use
// following the rules in the package documentation.
type Ring struct {
	// Read-only after New.
	d     *disruptor.Disruptor[slot]
	rb    *disruptor.RingBuffer[slot]
	mask  int64
	slots int
	size  int
	lens  []uint32 // one length per slot, at the start of mem
	data  []byte   // slots*size event bytes, after lens
	cfg   Config

	_ [64]byte
	// inflight counts the slots claimed, or being claimed, and not yet
	// published: a claim adds before it checks state, Shutdown stores
	// state before it waits for zero, so one of them sees the other.
	inflight atomic.Int64
	_        [56]byte
	state    atomic.Int32
	halted   atomic.Bool // a handler failed and its consumer stopped
	// stop ends the waits of claims: canceled when Shutdown begins, and
	// by Halt and Free.
	stop       context.Context
	cancelStop context.CancelFunc
	// polling counts the Polls in progress, freed is set by Free: a Poll
	// adds before it checks freed, Free sets freed before it waits for
	// zero, so no Poll reads the memory once Free releases it.
	polling atomic.Int64
	freed   atomic.Bool

	mu       sync.Mutex // declaring, Start, Shutdown, Halt, Free
	pollers  []*Poller  // fixed at Start
	shutErr  error      // the result of the first Shutdown or Halt
	mem      []byte     // lens and data; nil once freed
	handlers int
}

// New makes a ring from cfg. Bad settings are an *Error of CodeConfig
// naming every problem.
func New(cfg Config) (*Ring, error) {
	var problems []string
	if cfg.Slots < 1 || cfg.Slots > disruptor.MaxBufferSize || cfg.Slots&(cfg.Slots-1) != 0 {
		problems = append(problems, fmt.Sprintf("slots %d: want a power of 2 from 1 to %d", cfg.Slots, disruptor.MaxBufferSize))
	}
	if cfg.EventSize < 1 || cfg.EventSize > MaxEventSize {
		problems = append(problems, fmt.Sprintf("event size %d: want 1 to %d bytes", cfg.EventSize, MaxEventSize))
	}
	if len(problems) == 0 && int64(cfg.Slots)*int64(cfg.EventSize+4) > MaxRingBytes {
		problems = append(problems, fmt.Sprintf("slots × (event size + 4) is %d bytes: want at most %d", int64(cfg.Slots)*int64(cfg.EventSize+4), int64(MaxRingBytes)))
	}
	producer := disruptor.MultiProducer
	if cfg.Producer != "" {
		p, err := disruptor.ParseProducerType(cfg.Producer)
		if err != nil {
			problems = append(problems, fmt.Sprintf("producer %q: want single or multi", cfg.Producer))
		}
		producer = p
	}
	wait := cfg.Wait
	if wait == "" {
		wait = disruptor.BlockingName
	}
	ws, err := disruptor.ParseWaitStrategy(wait)
	if err != nil {
		problems = append(problems, fmt.Sprintf("wait strategy %q: want one of %v", cfg.Wait, disruptor.WaitStrategyNames))
	} else if singleThreaded && spins(ws) {
		problems = append(problems, fmt.Sprintf("wait strategy %q spins, and this build has one thread: nothing could publish while it spins; use blocking, lite_blocking or timeout_blocking", cfg.Wait))
	}
	if len(problems) > 0 {
		return nil, &Error{Code: CodeConfig, Msg: joinProblems(problems)}
	}
	d, err := disruptor.New(func() slot { return slot{} }, disruptor.Config{
		BufferSize:   cfg.Slots,
		ProducerType: producer,
		WaitStrategy: ws,
	})
	if err != nil {
		return nil, &Error{Code: CodeConfig, Msg: err.Error()}
	}
	n := cfg.Slots * (4 + cfg.EventSize)
	var mem []byte
	if cfg.Alloc != nil {
		mem, err = cfg.Alloc(n)
		if err != nil || len(mem) < n {
			return nil, errorf(CodeNoMemory, "%d bytes for the ring", n)
		}
	} else {
		// A []uint32 keeps the lengths aligned.
		words := make([]uint32, (n+3)/4)
		mem = unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), n)
	}
	r := &Ring{
		d:     d,
		rb:    d.RingBuffer(),
		mask:  int64(cfg.Slots - 1),
		slots: cfg.Slots,
		size:  cfg.EventSize,
		lens:  unsafe.Slice((*uint32)(unsafe.Pointer(&mem[0])), cfg.Slots),
		data:  mem[4*cfg.Slots : n : n],
		cfg:   cfg,
		mem:   mem,
	}
	r.stop, r.cancelStop = context.WithCancel(context.Background())
	d.SetDefaultExceptionHandler(haltHandler{r})
	return r, nil
}

func joinProblems(ps []string) string {
	s := ps[0]
	for _, p := range ps[1:] {
		s += "; " + p
	}
	return s
}

// spins reports whether ws waits by spinning or yielding rather than
// parking.
func spins(ws disruptor.WaitStrategy) bool {
	switch ws.(type) {
	case *disruptor.BusySpinWaitStrategy, *disruptor.YieldingWaitStrategy,
		*disruptor.SleepingWaitStrategy, *disruptor.PhasedBackoffWaitStrategy:
		return true
	}
	return false
}

// Slots is the number of events in the ring.
func (r *Ring) Slots() int { return r.slots }

// EventSize is the size of every slot in bytes.
func (r *Ring) EventSize() int { return r.size }

// Data is the ring's event memory: slot i is Data()[i*EventSize:(i+1)*EventSize].
// A producer may write the slots it has claimed until it publishes them;
// a consumer may read the slots it has been handed during the call.
func (r *Ring) Data() []byte { return r.data }

// Lengths is the ring's lengths, one per slot, beside Data.
func (r *Ring) Lengths() []uint32 { return r.lens }

// Cursor is the highest sequence published (single producer) or claimed
// (multi).
func (r *Ring) Cursor() int64 { return r.rb.Cursor() }

// HandleEvents adds a consumer that calls h with every batch, in order, on
// a goroutine of its own. Every consumer sees every event. It returns
// ErrStarted after Start and ErrInvalid for a nil h.
func (r *Ring) HandleEvents(h Handler) error {
	if h == nil {
		return ErrInvalid
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state.Load() != declaring {
		return ErrStarted
	}
	r.d.HandleEventsWith(&consumer{r: r, h: h})
	r.handlers++
	return nil
}

// Start starts the consumers; publishing may begin. It returns ErrStarted
// on a second call and ErrShutdown after Shutdown or Halt.
func (r *Ring) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state.Load() {
	case running:
		return ErrStarted
	case closing, closed:
		return ErrShutdown
	}
	if err := r.d.Start(); err != nil {
		return errorf(CodeInternal, "start: %v", err)
	}
	r.state.Store(running)
	return nil
}

// Next claims n slots, 1 to Slots, and returns the highest sequence: the
// claim is hi-n+1 .. hi. It waits while the ring is full, and gives up with
// ErrShutdown once Shutdown begins or ErrHalted once a handler has failed.
// It returns ErrClaim for a bad n and ErrNotStarted before Start. Every
// claimed slot must be published.
func (r *Ring) Next(n int) (int64, error) { return r.claim(n, true) }

// TryNext is Next without waiting: it returns ErrFull when the ring has
// no room for n slots now.
func (r *Ring) TryNext(n int) (int64, error) { return r.claim(n, false) }

func (r *Ring) claim(n int, wait bool) (int64, error) {
	if n < 1 || n > r.slots {
		return 0, ErrClaim
	}
	r.inflight.Add(int64(n))
	if s := r.state.Load(); s != running {
		r.inflight.Add(-int64(n))
		return 0, stateErr(s)
	}
	var hi int64
	var err error
	if wait {
		hi, err = r.rb.NextNCtx(r.stop, n)
	} else {
		hi, err = r.rb.TryNextN(n)
	}
	if err != nil {
		r.inflight.Add(-int64(n))
		return 0, claimErr(err)
	}
	return hi, nil
}

// claimErr maps the disruptor's claim errors to codes.
func claimErr(err error) error {
	switch {
	case errors.Is(err, disruptor.ErrInsufficientCapacity):
		return ErrFull
	case errors.Is(err, disruptor.ErrHalted):
		return ErrHalted
	case errors.Is(err, disruptor.ErrShutdown), errors.Is(err, context.Canceled):
		return ErrShutdown
	case errors.Is(err, disruptor.ErrInvalidClaim):
		return ErrClaim
	}
	return CodeInternal.wrap(err)
}

// backoff waits a little longer with every try: spinning, then yielding,
// then sleeping from a microsecond up to a millisecond.
func backoff(try int) {
	switch {
	case try < 64:
	case try < 128:
		runtime.Gosched()
	default:
		time.Sleep(min(time.Microsecond<<min((try-128)/8, 10), time.Millisecond))
	}
}

func stateErr(s int32) error {
	if s == declaring {
		return ErrNotStarted
	}
	return ErrShutdown
}

func (r *Ring) index(seq int64) int { return int(seq & r.mask) }

// Event returns the bytes of the slot of seq and sets its length to
// EventSize, for a producer to write in place between claim and publish.
func (r *Ring) Event(seq int64) []byte {
	i := r.index(seq)
	r.lens[i] = uint32(r.size)
	return r.data[i*r.size : (i+1)*r.size : (i+1)*r.size]
}

// SetLength sets the length of the event at seq, claimed and not yet
// published, to n bytes; ErrTooLarge when n is over EventSize.
func (r *Ring) SetLength(seq int64, n int) error {
	if n < 0 || n > r.size {
		return ErrTooLarge
	}
	r.lens[r.index(seq)] = uint32(n)
	return nil
}

// Write copies p into the slot of seq, claimed and not yet published, and
// sets its length; ErrTooLarge when p is longer than EventSize.
func (r *Ring) Write(seq int64, p []byte) error {
	if len(p) > r.size {
		return ErrTooLarge
	}
	i := r.index(seq)
	copy(r.data[i*r.size:], p)
	r.lens[i] = uint32(len(p))
	return nil
}

// PublishRange hands the claimed slots lo..hi to the consumers. Publishing
// sequences not claimed by the caller corrupts the ring; the checks here
// catch only a range that cannot be a claim (ErrInvalid).
func (r *Ring) PublishRange(lo, hi int64) error {
	if lo < 0 || hi < lo || hi-lo >= int64(r.slots) {
		return ErrInvalid
	}
	r.rb.PublishRange(lo, hi)
	r.inflight.Add(-(hi - lo + 1))
	return nil
}

// PublishCopy claims one slot, copies p into it and publishes it,
// waiting for room when wait is set (see Next) and returning ErrFull
// otherwise.
func (r *Ring) PublishCopy(p []byte, wait bool) (int64, error) {
	if len(p) > r.size {
		return 0, ErrTooLarge
	}
	seq, err := r.claim(1, wait)
	if err != nil {
		return 0, err
	}
	i := r.index(seq)
	copy(r.data[i*r.size:], p)
	r.lens[i] = uint32(len(p))
	r.rb.Publish(seq)
	r.inflight.Add(-1)
	return seq, nil
}

// PublishMany publishes len(lens) events in one claim: event i is the next
// lens[i] bytes of data, which must hold exactly their sum. With nil lens,
// data holds len(data)/EventSize events of EventSize bytes. It returns the
// highest sequence; ErrClaim for more events than Slots (or none),
// ErrTooLarge for an event over EventSize, ErrInvalid when data and lens
// disagree. Nothing is claimed unless the whole batch is valid.
func (r *Ring) PublishMany(data []byte, lens []uint32, wait bool) (int64, error) {
	n := len(lens)
	if lens == nil {
		if len(data)%r.size != 0 {
			return 0, errorf(CodeInvalid, "%d bytes is not a whole number of %d-byte events", len(data), r.size)
		}
		n = len(data) / r.size
	} else {
		total := 0
		for _, l := range lens {
			if int(l) > r.size {
				return 0, ErrTooLarge
			}
			total += int(l)
		}
		if total != len(data) {
			return 0, errorf(CodeInvalid, "the lengths add up to %d bytes, the data has %d", total, len(data))
		}
	}
	hi, err := r.claim(n, wait)
	if err != nil {
		return 0, err
	}
	lo := hi - int64(n) + 1
	if lens == nil { // whole slots: at most two copies, either side of the ring's end
		i := r.index(lo)
		head := min(n, r.slots-i)
		copy(r.data[i*r.size:(i+head)*r.size], data[:head*r.size])
		copy(r.data[:(n-head)*r.size], data[head*r.size:])
		for k := range n {
			r.lens[r.index(lo+int64(k))] = uint32(r.size)
		}
		r.rb.PublishRange(lo, hi)
		r.inflight.Add(-int64(n))
		return hi, nil
	}
	off := 0
	for k := range n {
		i := r.index(lo + int64(k))
		l := int(lens[k])
		copy(r.data[i*r.size:i*r.size+l], data[off:off+l])
		r.lens[i] = uint32(l)
		off += l
	}
	r.rb.PublishRange(lo, hi)
	r.inflight.Add(-int64(n))
	return hi, nil
}

// Shutdown stops new claims, waits for the claims in progress to be
// published and for every handler to handle every event, and stops the
// handlers. It returns nil when all drained, ErrHalted when a handler had
// failed (its events cannot drain), and ErrTimeout when ctx ended first
// (the handlers are then halted without draining). Later calls return the
// first call's result.
func (r *Ring) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state.Load() {
	case closed:
		return r.shutErr
	case declaring:
		r.state.Store(closed)
		r.cancelStop()
		r.d.Halt()
		r.alertPollers()
		return nil
	}
	r.state.Store(closing)
	r.cancelStop()
	r.alertPollers()
	var err error
	for i := 0; r.inflight.Load() > 0; i++ {
		if ctx.Err() != nil {
			err = errorf(CodeTimeout, "%d claimed slots were never published", r.inflight.Load())
			break
		}
		backoff(64 + i)
	}
	if err == nil {
		err = r.d.Shutdown(ctx)
	} else {
		r.d.Halt()
	}
	r.shutErr = r.shutdownResult(err)
	r.state.Store(closed)
	r.alertPollers()
	return r.shutErr
}

func (r *Ring) shutdownResult(err error) error {
	var halted *disruptor.HaltedError
	switch {
	case err == nil && r.halted.Load():
		return ErrHalted
	case err == nil:
		return nil
	case errors.As(err, &halted):
		return &Error{Code: CodeHalted, Msg: halted.Error()}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &Error{Code: CodeTimeout, Msg: err.Error()}
	}
	return CodeOf(err).wrap(err)
}

func (c Code) wrap(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Code: c, Msg: err.Error()}
}

// Halt stops the handlers after the batch in hand, without draining, and
// stops new claims. Pollers still read what was published.
func (r *Ring) Halt() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.haltLocked()
}

func (r *Ring) haltLocked() {
	if r.state.Load() == closed {
		return
	}
	r.state.Store(closed)
	r.cancelStop()
	r.d.Halt()
	r.alertPollers()
}

// Free halts the ring if it is still running and releases its memory
// (Config.Release). Polls in progress return first, and later ones return
// ErrHandle; producers must be done with the ring before Free (a claim
// that is never published would otherwise hold it for ever).
func (r *Ring) Free() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.haltLocked()
	r.freed.Store(true)
	for i := 0; r.polling.Load() > 0; i++ {
		r.alertPollers()
		backoff(64 + i)
	}
	if r.mem != nil && r.cfg.Release != nil {
		r.cfg.Release(r.mem)
	}
	r.mem, r.data, r.lens = nil, nil, nil
}

// Err returns ErrHalted once a handler has failed, or nil.
func (r *Ring) Err() error {
	if r.halted.Load() {
		return ErrHalted
	}
	return nil
}

func (r *Ring) alertPollers() {
	for _, p := range r.pollers {
		p.barrier.Alert()
	}
}

// Handler consumes one run of consecutive events: len(lens) events from
// sequence first on. Event k's bytes are data[k*EventSize : k*EventSize+lens[k]].
// data and lens are the ring's own memory, valid only during the call.
// A non-nil error stops the consumer (ErrHalted then).
type Handler func(first int64, data []byte, lens []uint32) error

// consumer adapts a Handler to the disruptor's batch handler.
type consumer struct {
	r *Ring
	h Handler
}

var (
	_ disruptor.BatchHandler[slot] = (*consumer)(nil)
	_ disruptor.StartHandler       = (*consumer)(nil)
	_ disruptor.ShutdownHandler    = (*consumer)(nil)
)

func (c *consumer) OnEvent(_ *slot, seq int64, _ bool) error {
	i := c.r.index(seq)
	return c.h(seq, c.r.data[i*c.r.size:(i+1)*c.r.size], c.r.lens[i:i+1])
}

// OnBatch hands the handler the batch's slots in place: a batch never
// wraps around the ring's end (the processor splits it), so its slots are
// contiguous.
func (c *consumer) OnBatch(events []slot, first int64, _ bool) error {
	n := len(events)
	i := c.r.index(first)
	return c.h(first, c.r.data[i*c.r.size:(i+n)*c.r.size], c.r.lens[i:i+n])
}

func (c *consumer) OnStart() error {
	if c.r.cfg.LockThreads {
		runtime.LockOSThread()
	}
	return nil
}

func (c *consumer) OnShutdown() error {
	if c.r.cfg.LockThreads {
		runtime.UnlockOSThread()
	}
	return nil
}

// haltHandler halts a consumer whose handler failed, and marks the ring so
// that waiting producers give up.
type haltHandler struct{ r *Ring }

func (h haltHandler) HandleEventException(err error, _ int64, _ *slot) error {
	h.r.halted.Store(true)
	return err
}
func (haltHandler) HandleOnStartException(error)    {}
func (haltHandler) HandleOnShutdownException(error) {}
