package bytering

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"pgregory.net/rapid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const evSize = 32

// payload is event number k of producer p: p, k, then bytes derived from
// k, of a length that varies with k (at least 12).
func payload(buf []byte, p, k int) []byte {
	n := 12 + k%(evSize-11)
	b := buf[:n]
	binary.LittleEndian.PutUint32(b, uint32(p))
	binary.LittleEndian.PutUint64(b[4:], uint64(k))
	for i := 12; i < n; i++ {
		b[i] = byte(k + i)
	}
	return b
}

// checker checks that one consumer sees every producer's events once, in
// the producer's order, at consecutive sequences.
type checker struct {
	name    string
	next    []int // next event number expected from each producer
	seq     int64 // next sequence expected
	count   int
	failure error
}

func newChecker(name string, producers int) *checker {
	return &checker{name: name, next: make([]int, producers)}
}

func (c *checker) event(seq int64, b []byte) {
	if c.failure != nil {
		return
	}
	if seq != c.seq {
		c.failure = fmt.Errorf("%s: sequence %d, want %d", c.name, seq, c.seq)
		return
	}
	c.seq++
	if len(b) < 12 {
		c.failure = fmt.Errorf("%s: seq %d: %d bytes", c.name, seq, len(b))
		return
	}
	p := int(binary.LittleEndian.Uint32(b))
	k := int(binary.LittleEndian.Uint64(b[4:]))
	if p >= len(c.next) || k != c.next[p] {
		c.failure = fmt.Errorf("%s: seq %d: producer %d event %d, want event %d", c.name, seq, p, k, c.next[min(p, len(c.next)-1)])
		return
	}
	var want [evSize]byte
	if w := payload(want[:], p, k); string(w) != string(b) {
		c.failure = fmt.Errorf("%s: seq %d: payload %x, want %x", c.name, seq, b, w)
		return
	}
	c.next[p]++
	c.count++
}

func (c *checker) handler() Handler {
	return func(first int64, data []byte, lens []uint32) error {
		for k, l := range lens {
			c.event(first+int64(k), data[k*evSize:k*evSize+int(l)])
		}
		return nil
	}
}

// publishAll publishes events 0..n-1 of producer p, cycling through every
// way of publishing.
func publishAll(r *Ring, p, n int) error {
	var buf [evSize]byte
	for k := 0; k < n; {
		switch k % 5 {
		case 0: // claim one, write in place, publish
			seq, err := r.Next(1)
			if err != nil {
				return err
			}
			copy(r.Event(seq), payload(buf[:], p, k))
			if err := r.SetLength(seq, len(payload(buf[:], p, k))); err != nil {
				return err
			}
			if err := r.PublishRange(seq, seq); err != nil {
				return err
			}
			k++
		case 1: // copy one
			if _, err := r.PublishCopy(payload(buf[:], p, k), true); err != nil {
				return err
			}
			k++
		case 2: // claim a batch, write, publish the range
			m := min(7, n-k)
			hi, err := r.Next(m)
			if err != nil {
				return err
			}
			for j := range m {
				if err := r.Write(hi-int64(m-1-j), payload(buf[:], p, k+j)); err != nil {
					return err
				}
			}
			if err := r.PublishRange(hi-int64(m-1), hi); err != nil {
				return err
			}
			k += m
		case 3: // copy a batch
			m := min(5, n-k)
			var data []byte
			var lens []uint32
			for j := range m {
				b := payload(buf[:], p, k+j)
				data = append(data, b...)
				lens = append(lens, uint32(len(b)))
			}
			if _, err := r.PublishMany(data, lens, true); err != nil {
				return err
			}
			k += m
		case 4: // try, retrying when full
			_, err := r.PublishCopy(payload(buf[:], p, k), false)
			if errors.Is(err, ErrFull) {
				continue
			}
			if err != nil {
				return err
			}
			k++
		}
	}
	return nil
}

func TestExactlyOnceInOrder(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	for _, tc := range []struct {
		producer  string
		wait      string
		producers int
	}{
		{"single", "blocking", 1},
		{"single", "yielding", 1},
		{"multi", "blocking", 4},
		{"multi", "lite_blocking", 4},
		{"multi", "sleeping", 3},
	} {
		t.Run(fmt.Sprintf("%s/%s/P%d", tc.producer, tc.wait, tc.producers), func(t *testing.T) {
			r, err := New(Config{Slots: 256, EventSize: evSize, Producer: tc.producer, Wait: tc.wait})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Free()
			h1, h2 := newChecker("handler 1", tc.producers), newChecker("handler 2", tc.producers)
			for _, c := range []*checker{h1, h2} {
				if err := r.HandleEvents(c.handler()); err != nil {
					t.Fatal(err)
				}
			}
			p, err := r.NewPoller()
			if err != nil {
				t.Fatal(err)
			}
			pc := newChecker("poller", tc.producers)
			polled := make(chan error, 1)
			go func() {
				out := make([]byte, 100*evSize)
				lens := make([]uint32, 100)
				for {
					first, n, err := p.Poll(out, lens, -1)
					if err != nil {
						if errors.Is(err, ErrShutdown) {
							err = nil
						}
						polled <- err
						return
					}
					for k := range n {
						pc.event(first+int64(k), out[k*evSize:k*evSize+int(lens[k])])
					}
				}
			}()
			if err := r.Start(); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, tc.producers)
			for id := range tc.producers {
				wg.Go(func() { errs <- publishAll(r, id, n/tc.producers) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := r.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if err := <-polled; err != nil {
				t.Fatal(err)
			}
			total := tc.producers * (n / tc.producers)
			for _, c := range []*checker{h1, h2, pc} {
				if c.failure != nil {
					t.Error(c.failure)
				} else if c.count != total {
					t.Errorf("%s saw %d events, want %d", c.name, c.count, total)
				}
			}
		})
	}
}

func TestConfigErrorsNameEveryProblem(t *testing.T) {
	_, err := New(Config{Slots: 3, EventSize: 0, Producer: "many", Wait: "snooze"})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
	for _, want := range []string{"slots 3", "event size 0", `producer "many"`, `wait strategy "snooze"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := New(Config{Slots: 1 << 30, EventSize: MaxEventSize}); !errors.Is(err, ErrConfig) {
		t.Errorf("a 1 PiB ring: err = %v, want ErrConfig", err)
	}
}

func TestErrors(t *testing.T) {
	r, err := New(Config{Slots: 8, EventSize: 4, Producer: "single"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	p, err := r.NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(1); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Next before Start: %v, want ErrNotStarted", err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		err  error
		want error
	}{
		{"Start twice", r.Start(), ErrStarted},
		{"HandleEvents after Start", r.HandleEvents(func(int64, []byte, []uint32) error { return nil }), ErrStarted},
		{"HandleEvents nil", r.HandleEvents(nil), ErrInvalid},
		{"claim 0", second(r.Next(0)), ErrClaim},
		{"claim 9 of 8", second(r.TryNext(9)), ErrClaim},
		{"too large", second(r.PublishCopy([]byte("12345"), true)), ErrTooLarge},
		{"batch too large", second(r.PublishMany([]byte("12345"), []uint32{5}, true)), ErrTooLarge},
		{"lengths disagree", second(r.PublishMany([]byte("1234"), []uint32{3}, true)), ErrInvalid},
		{"not whole events", second(r.PublishMany([]byte("123"), nil, true)), ErrInvalid},
		{"publish backwards", r.PublishRange(5, 4), ErrInvalid},
		{"publish more than the ring", r.PublishRange(0, 8), ErrInvalid},
		{"set length too large", r.SetLength(0, 5), ErrTooLarge},
		{"write too large", r.Write(0, []byte("12345")), ErrTooLarge},
	}
	if _, err := r.NewPoller(); !errors.Is(err, ErrStarted) {
		t.Errorf("NewPoller after Start: %v, want ErrStarted", err)
	}
	for _, c := range checks {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	// The poller is never polled: the ring fills, then TryNext is full.
	if _, err := r.PublishMany(make([]byte, 8*4), nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.TryNext(1); !errors.Is(err, ErrFull) {
		t.Errorf("TryNext on a full ring: %v, want ErrFull", err)
	}
	if _, _, err := p.Poll(make([]byte, 3), make([]uint32, 1), 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Poll into a short buffer: %v, want ErrInvalid", err)
	}
	// A producer waiting for room gives up when Shutdown begins.
	waiting := make(chan error, 1)
	go func() { _, err := r.Next(1); waiting <- err }()
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-waiting; !errors.Is(err, ErrShutdown) {
		t.Errorf("waiting producer: %v, want ErrShutdown", err)
	}
	if _, err := r.TryNext(1); !errors.Is(err, ErrShutdown) {
		t.Errorf("TryNext after Shutdown: %v, want ErrShutdown", err)
	}
	// The poller still reads the 8 events, then learns of the shutdown.
	out, lens := make([]byte, 16*4), make([]uint32, 16)
	if _, n, err := p.Poll(out, lens, 0); n != 8 || err != nil {
		t.Errorf("Poll after Shutdown: %d events, %v; want 8, nil", n, err)
	}
	if _, _, err := p.Poll(out, lens, -1); !errors.Is(err, ErrShutdown) {
		t.Errorf("Poll when drained: %v, want ErrShutdown", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestHandlerFailureHalts(t *testing.T) {
	r, err := New(Config{Slots: 4, EventSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	boom := errors.New("boom")
	if err := r.HandleEvents(func(first int64, _ []byte, _ []uint32) error {
		if first >= 2 {
			return boom
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	// Events 2.. are never handled: the fifth producer after the ring fills
	// waits, then gives up with ErrHalted.
	var err2 error
	for range 20 {
		if _, err2 = r.PublishCopy([]byte{1}, true); err2 != nil {
			break
		}
	}
	if !errors.Is(err2, ErrHalted) {
		t.Errorf("producer after the failure: %v, want ErrHalted", err2)
	}
	if err := r.Shutdown(context.Background()); !errors.Is(err, ErrHalted) || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Shutdown: %v, want ErrHalted naming boom", err)
	}
}

func TestShutdownTimesOutOnAClaimNeverPublished(t *testing.T) {
	r, err := New(Config{Slots: 4, EventSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	p, _ := r.NewPoller()
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Shutdown(ctx); !errors.Is(err, ErrTimeout) {
		t.Errorf("Shutdown: %v, want ErrTimeout", err)
	}
	// The poller does not wait for the abandoned claim.
	if _, _, err := p.Poll(make([]byte, 1), make([]uint32, 1), -1); !errors.Is(err, ErrShutdown) {
		t.Errorf("Poll: %v, want ErrShutdown", err)
	}
}

func TestPollWaits(t *testing.T) {
	for _, wait := range []string{"blocking", "lite_blocking", "timeout_blocking", "yielding"} {
		t.Run(wait, func(t *testing.T) {
			r, err := New(Config{Slots: 4, EventSize: 1, Wait: wait})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Free()
			p, _ := r.NewPoller()
			if err := r.Start(); err != nil {
				t.Fatal(err)
			}
			out, lens := make([]byte, 1), make([]uint32, 1)
			start := time.Now()
			if _, n, err := p.Poll(out, lens, 20*time.Millisecond); n != 0 || err != nil {
				t.Fatalf("Poll on an empty ring: %d, %v", n, err)
			}
			if d := time.Since(start); d < 20*time.Millisecond {
				t.Errorf("Poll with a 20ms timeout returned after %v", d)
			}
			go func() { _, _ = r.PublishCopy([]byte{42}, true) }()
			first, n, err := p.Poll(out, lens, -1)
			if n != 1 || err != nil || first != 0 || out[0] != 42 || lens[0] != 1 {
				t.Fatalf("Poll: first %d, n %d, %v, event %v; want 0, 1, nil, [42]", first, n, err, out)
			}
			// A poller waiting for ever is woken by Shutdown.
			done := make(chan error, 1)
			go func() { _, _, err := p.Poll(out, lens, -1); done <- err }()
			if err := r.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := <-done; !errors.Is(err, ErrShutdown) {
				t.Errorf("Poll during Shutdown: %v, want ErrShutdown", err)
			}
		})
	}
}

func TestClosedPollerDoesNotGate(t *testing.T) {
	r, err := New(Config{Slots: 2, EventSize: 1, Producer: "single"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	p, _ := r.NewPoller()
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	for i := range 10 {
		if _, err := r.PublishCopy([]byte{byte(i)}, false); err != nil {
			t.Fatalf("publish %d with the only poller closed: %v", i, err)
		}
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCodeTable(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Codes() {
		if c.Name() == "" || c.Text() == "" || seen[c.Name()] {
			t.Errorf("code %d: name %q text %q", c, c.Name(), c.Text())
		}
		seen[c.Name()] = true
		if CodeOf(&Error{Code: c, Msg: "x"}) != c {
			t.Errorf("CodeOf(%v) is not %v", c, c)
		}
	}
	if Code(99).Name() != "" || CodeOf(errors.New("x")) != CodeInternal || CodeOf(nil) != CodeOK {
		t.Error("unknown codes and plain errors are not mapped as documented")
	}
}

// TestModel drives one ring with one poller from one goroutine through
// random publishes, claims and polls, against a slice of the events not
// yet polled.
func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		slots := 1 << rapid.IntRange(0, 4).Draw(t, "log2 slots")
		size := rapid.IntRange(1, 8).Draw(t, "event size")
		r, err := New(Config{Slots: slots, EventSize: size, Producer: rapid.SampledFrom([]string{"single", "multi"}).Draw(t, "producer")})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Free()
		p, _ := r.NewPoller()
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
		var pending [][]byte // published, not yet polled
		next := int64(0)     // next sequence the model expects to publish
		polled := int64(0)   // next sequence the model expects to poll
		event := rapid.SliceOfN(rapid.Byte(), 0, size)
		t.Repeat(map[string]func(*rapid.T){
			"publish": func(t *rapid.T) {
				e := event.Draw(t, "event")
				seq, err := r.PublishCopy(e, false)
				if len(pending) == slots {
					if !errors.Is(err, ErrFull) {
						t.Fatalf("publish to a full ring: %v", err)
					}
					return
				}
				if err != nil || seq != next {
					t.Fatalf("publish: seq %d, %v; want %d", seq, err, next)
				}
				pending = append(pending, e)
				next++
			},
			"publish many": func(t *rapid.T) {
				// Mostly a batch that fits, so that batches often end at or
				// cross the ring's end; sometimes one that may not.
				limit := slots - len(pending)
				if limit == 0 || rapid.Bool().Draw(t, "may overfill") {
					limit = slots
				}
				es := rapid.SliceOfN(event, 1, limit).Draw(t, "events")
				whole := rapid.Bool().Draw(t, "whole slots") // no lengths: every event fills its slot
				var data []byte
				var lens []uint32
				for k, e := range es {
					if whole {
						e = append(e, make([]byte, size-len(e))...)
						es[k] = e
					} else {
						lens = append(lens, uint32(len(e)))
					}
					data = append(data, e...)
				}
				hi, err := r.PublishMany(data, lens, false)
				if len(pending)+len(es) > slots {
					if !errors.Is(err, ErrFull) {
						t.Fatalf("publish %d to a ring with %d free: %v", len(es), slots-len(pending), err)
					}
					return
				}
				next += int64(len(es))
				if err != nil || hi != next-1 {
					t.Fatalf("publish many: hi %d, %v; want %d", hi, err, next-1)
				}
				pending = append(pending, es...)
			},
			"claim and publish": func(t *rapid.T) {
				n := rapid.IntRange(1, slots).Draw(t, "n")
				hi, err := r.TryNext(n)
				if len(pending)+n > slots {
					if !errors.Is(err, ErrFull) {
						t.Fatalf("claim %d with %d free: %v", n, slots-len(pending), err)
					}
					return
				}
				if err != nil || hi != next+int64(n)-1 {
					t.Fatalf("claim %d: hi %d, %v; want %d", n, hi, err, next+int64(n)-1)
				}
				for s := next; s <= hi; s++ {
					e := event.Draw(t, "event")
					copy(r.Event(s), e)
					if err := r.SetLength(s, len(e)); err != nil {
						t.Fatal(err)
					}
					pending = append(pending, e)
				}
				if err := r.PublishRange(next, hi); err != nil {
					t.Fatal(err)
				}
				next = hi + 1
			},
			"poll": func(t *rapid.T) {
				max := rapid.IntRange(1, 2*slots).Draw(t, "max")
				out, lens := make([]byte, max*size), make([]uint32, max)
				first, n, err := p.Poll(out, lens, 0)
				want := min(max, len(pending))
				if err != nil || n != want || (n > 0 && first != polled) {
					t.Fatalf("poll %d: first %d n %d %v; want first %d n %d", max, first, n, err, polled, want)
				}
				for k := range n {
					if got := out[k*size : k*size+int(lens[k])]; string(got) != string(pending[k]) {
						t.Fatalf("event %d: %x, want %x", polled+int64(k), got, pending[k])
					}
				}
				pending = pending[n:]
				polled += int64(n)
			},
		})
		if err := r.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestFreeWaitsForPolls frees a ring while a poller copies out of it: the
// poll in progress finishes before the memory goes, later ones fail.
// Release overwrites the memory, so a poll reading it afterwards would
// copy 0xff bytes (and the race detector would see the two meet).
func TestFreeWaitsForPolls(t *testing.T) {
	for range 20 {
		r, err := New(Config{Slots: 1024, EventSize: 64,
			Alloc: func(n int) ([]byte, error) { return make([]byte, n), nil },
			Release: func(b []byte) {
				for i := range b {
					b[i] = 0xff
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := r.NewPoller()
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.PublishMany(make([]byte, 1024*64), nil, true); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			out, lens := make([]byte, 64), make([]uint32, 1)
			for {
				_, _, err := p.Poll(out, lens, -1)
				if err != nil {
					done <- err
					return
				}
				if lens[0] != 64 || strings.Trim(string(out), "\x00") != "" {
					done <- fmt.Errorf("polled %d bytes %x: freed memory", lens[0], out)
					return
				}
			}
		}()
		r.Free()
		if err := <-done; !errors.Is(err, ErrHandle) && !errors.Is(err, ErrShutdown) {
			t.Fatalf("poll during Free: %v", err)
		}
	}
}
