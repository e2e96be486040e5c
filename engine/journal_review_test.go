package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/badbatch/badbatch/journal"
)

// fullFS is a file system whose writes fail with ENOSPC while full is
// set: creating a file, WriteAt, Rename of a metadata file. It counts
// the renames of "meta" files (each SetMeta is one).
type fullFS struct {
	journal.FS
	full        atomic.Bool
	metaRenames atomic.Int64
}

func (f *fullFS) OpenFile(name string, flag int, perm fs.FileMode) (journal.File, error) {
	if f.full.Load() && flag&os.O_CREATE != 0 {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.ENOSPC}
	}
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &fullFile{File: file, fs: f}, nil
}

func (f *fullFS) Rename(oldname, newname string) error {
	if filepath.Base(newname) == "meta" {
		f.metaRenames.Add(1)
	}
	if f.full.Load() {
		return &fs.PathError{Op: "rename", Path: newname, Err: syscall.ENOSPC}
	}
	return f.FS.Rename(oldname, newname)
}

type fullFile struct {
	journal.File
	fs *fullFS
}

func (f *fullFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.full.Load() {
		return 0, syscall.ENOSPC
	}
	return f.File.WriteAt(p, off)
}

// journaledEngineFS is journaledEngine on the file system fsys (nil: the
// operating system's), with mod applied to the engine's config.
func journaledEngineFS(t *testing.T, dir string, fsys journal.FS, mod func(*Config)) (*Engine, func()) {
	t.Helper()
	jd, err := journal.OpenDir(dir, journal.DirOptions{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Journal = jd
	if mod != nil {
		mod(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	stop := func() {
		if closed {
			return
		}
		closed = true
		if err := e.Close(context.Background()); err != nil && !strings.Contains(err.Error(), "ENOSPC") {
			t.Error(err)
		}
		if err := jd.Close(); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return e, stop
}

// TestJournaledRecoverWritesNothing: bringing a disruptor back to the
// state its journal records writes nothing: a paused disruptor is not
// recorded "running" on the way back (a crash there would bring it back
// running), and a full disk at restart does not keep it down.
func TestJournaledRecoverWritesNothing(t *testing.T) {
	dir := t.TempDir()
	fsys := &fullFS{FS: journal.OSFS()}
	e, stop := journaledEngineFS(t, dir, fsys, nil)
	ctx := context.Background()
	for _, name := range []string{"paused", "running", "stopped"} {
		if _, err := e.Create(DisruptorConfig{Name: name, BufferSize: 8, Durability: DurabilityJournal}, true); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Publish(ctx, name, &Batch{Events: jevents(0, 3)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.SetState(ctx, "paused", StatePaused); err != nil {
		t.Fatal(err)
	}
	if _, err := e.SetState(ctx, "stopped", StateStopped); err != nil {
		t.Fatal(err)
	}
	stop()

	e, _ = journaledEngineFS(t, dir, fsys, nil)
	fsys.metaRenames.Store(0)
	fsys.full.Store(true) // the disk filled up while the server was down
	for name, want := range map[string]State{"paused": StatePaused, "running": StateRunning, "stopped": StateStopped} {
		info, err := e.Recover(name, RecoverOptions{})
		if err != nil {
			t.Errorf("Recover(%q) on a full disk: %v", name, err)
			continue
		}
		if info.State != want || info.Latest != 2 {
			t.Errorf("Recover(%q): state %v latest %d, want %v 2", name, info.State, info.Latest, want)
		}
	}
	if n := fsys.metaRenames.Load(); n != 0 {
		t.Errorf("recovery rewrote a disruptor's metadata %d times, want 0", n)
	}
	fsys.full.Store(false)
}

// TestJournaledStateChangeDiskFull: a state change that cannot be
// recorded because the disk is full changes nothing and says so with
// [ErrJournalFull] (507 JOURNAL_FULL), as a publish does.
func TestJournaledStateChangeDiskFull(t *testing.T) {
	fsys := &fullFS{FS: journal.OSFS()}
	e, _ := journaledEngineFS(t, t.TempDir(), fsys, nil)
	if _, err := e.Create(DisruptorConfig{Name: "s", BufferSize: 8, Durability: DurabilityJournal}, true); err != nil {
		t.Fatal(err)
	}
	fsys.full.Store(true)
	defer fsys.full.Store(false)
	_, err := e.SetState(context.Background(), "s", StatePaused)
	if !errors.Is(err, ErrJournalFull) || Code(err) != "JOURNAL_FULL" {
		t.Errorf("pause on a full disk: %v (code %s), want JOURNAL_FULL", err, Code(err))
	}
	if info, _ := e.Info("s"); info.State != StateRunning {
		t.Errorf("state after the refused pause: %v", info.State)
	}
	_, err = e.Publish(context.Background(), "s", &Batch{Events: jevents(0, 1)})
	if !errors.Is(err, ErrJournalFull) {
		t.Errorf("publish on a full disk: %v", err)
	}
}

// journalContents opens the stream name of the data directory dir (no
// engine has it open) and returns its payloads by sequence.
func journalContents(t *testing.T, dir, name string) map[int64]string {
	t.Helper()
	jd, err := journal.OpenDir(dir, journal.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer jd.Close()
	j, err := jd.Open(name, journal.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	out := map[int64]string{}
	r, err := j.NewReader(j.Oldest())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		b, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, ev := range b.Events {
			out[b.First+int64(i)] = string(ev.Payload)
		}
	}
}

// acked is what the publishers of a race were answered.
type acked struct {
	mu     sync.Mutex
	events map[int64]string // acknowledged: sequence → payload
	by     map[int64]*Ring  // the Ring that acknowledged it
}

func (a *acked) add(w *Ring, first int64, evs []Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, ev := range evs {
		seq := first + int64(i)
		if old, dup := a.events[seq]; dup && a.by[seq] == w {
			panic(fmt.Sprintf("sequence %d acknowledged twice by one disruptor: %s and %s", seq, old, ev.Payload))
		}
		a.events[seq], a.by[seq] = string(ev.Payload), w
	}
}

// racePublishers publishes from 4 goroutines through the Writer of name
// (resolved again after each refusal, as a client's retry would) until
// stop is closed, and returns what was acknowledged once wait returns.
// A refusal must be one the race explains (ok); anything else fails the
// test.
func racePublishers(t *testing.T, e *Engine, name string, stop <-chan struct{}, ok func(error) bool) (a *acked, wait func()) {
	t.Helper()
	a = &acked{events: map[int64]string{}, by: map[int64]*Ring{}}
	var wg sync.WaitGroup
	var tag atomic.Int64
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				w, err := e.Writer(name)
				if err != nil {
					if !ok(err) {
						t.Errorf("publisher %d: Writer: %v", p, err)
						return
					}
					runtime.Gosched()
					continue
				}
				evs := make([]Event, 1+n%5)
				for i := range evs {
					evs[i] = Event{Payload: fmt.Appendf(nil, `{"t":%d}`, tag.Add(1))}
				}
				first, err := w.Publish(ctx, &Batch{Events: evs})
				if err != nil {
					if !ok(err) {
						t.Errorf("publisher %d: %v", p, err)
						return
					}
					runtime.Gosched()
					continue
				}
				a.add(w.(*Ring), first, evs)
			}
		}()
	}
	t.Cleanup(wg.Wait)
	return a, wg.Wait
}

// sameEvents reports the differences between what was acknowledged and
// what a journal holds.
func sameEvents(t *testing.T, what string, acked, journaled map[int64]string) {
	t.Helper()
	bad := 0
	for seq, p := range acked {
		if got, ok := journaled[seq]; !ok || got != p {
			if bad++; bad < 5 {
				t.Errorf("%s: acknowledged %d=%s, journal has %q (present %v)", what, seq, p, got, ok)
			}
		}
	}
	for seq, p := range journaled {
		if _, ok := acked[seq]; !ok {
			if bad++; bad < 10 {
				t.Errorf("%s: journal has %d=%s, never acknowledged", what, seq, p)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d differences (%d acknowledged, %d journaled)", what, bad, len(acked), len(journaled))
	}
	if len(acked) == 0 {
		t.Errorf("%s: nothing was acknowledged: the race did not run", what)
	}
	t.Logf("%s: %d events acknowledged, all in the journal", what, len(acked))
}

// TestJournaledPauseRacesPublish: pauses and resumes racing publishes:
// each publish is either acknowledged and in the journal, or refused
// (paused) and nowhere.
func TestJournaledPauseRacesPublish(t *testing.T) {
	dir := t.TempDir()
	e, stopEngine := journaledEngine(t, dir)
	if _, err := e.Create(DisruptorConfig{Name: "p", BufferSize: 64, Durability: DurabilityJournal, Sync: "never"}, true); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	a, wait := racePublishers(t, e, "p", stop, func(err error) bool {
		var se *StateError
		return errors.As(err, &se)
	})
	ctx := context.Background()
	for range 50 {
		if _, err := e.SetState(ctx, "p", StatePaused); err != nil {
			t.Fatal(err)
		}
		if _, err := e.SetState(ctx, "p", StateRunning); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Microsecond)
	}
	close(stop)
	wait()
	stopEngine()
	sameEvents(t, "pause", a.events, journalContents(t, dir, "p"))
}

// TestJournaledCloseRacesPublish: the engine closing while publishes run:
// no acknowledgement for an event the journal does not have, and none
// in the journal that was refused.
func TestJournaledCloseRacesPublish(t *testing.T) {
	for _, mode := range []string{"always", "never"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			e, stopEngine := journaledEngine(t, dir)
			if _, err := e.Create(DisruptorConfig{Name: "c", BufferSize: 64, Durability: DurabilityJournal, Sync: mode}, true); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			a, wait := racePublishers(t, e, "c", stop, func(err error) bool {
				var se *StateError
				return errors.Is(err, ErrClosed) || errors.As(err, &se)
			})
			time.Sleep(20 * time.Millisecond)
			stopEngine()
			close(stop)
			wait()
			a.mu.Lock()
			defer a.mu.Unlock()
			sameEvents(t, "close", a.events, journalContents(t, dir, "c"))
		})
	}
}

// TestJournaledDeleteRecreateRacesPublish: a disruptor deleted and
// created anew under its name while publishes run, some through the
// Writer they resolved before the delete: the new journal holds exactly
// what the new disruptor acknowledged, nothing of the old one.
func TestJournaledDeleteRecreateRacesPublish(t *testing.T) {
	dir := t.TempDir()
	e, stopEngine := journaledEngine(t, dir)
	cfg := DisruptorConfig{Name: "d", BufferSize: 64, Durability: DurabilityJournal, Sync: "never"}
	if _, err := e.Create(cfg, true); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	a, wait := racePublishers(t, e, "d", stop, func(err error) bool {
		var se *StateError
		return errors.Is(err, ErrNotFound) || errors.As(err, &se)
	})
	ctx := context.Background()
	for range 20 {
		time.Sleep(time.Millisecond)
		if err := e.Delete(ctx, "d"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Create(cfg, true); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Millisecond)
	w, _ := e.Writer("d")
	last := w.(*Ring)
	close(stop)
	wait()
	stopEngine()
	a.mu.Lock()
	defer a.mu.Unlock()
	mine := map[int64]string{}
	for seq, p := range a.events {
		if a.by[seq] == last {
			mine[seq] = p
		}
	}
	sameEvents(t, "recreated", mine, journalContents(t, dir, "d"))
}

// TestJournaledSameKeyRace: concurrent publishes of one batch under one
// idempotency key: exactly one is published, every one is answered its
// first sequence, and the journal holds the batch once.
func TestJournaledSameKeyRace(t *testing.T) {
	dir := t.TempDir()
	e, stopEngine := journaledEngine(t, dir)
	if _, err := e.Create(DisruptorConfig{Name: "k", BufferSize: 64, Durability: DurabilityJournal, Sync: "always"}, true); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.Publish(ctx, "k", &Batch{Events: jevents(0, 3)}); err != nil { // so that the key's batch is not at 0
		t.Fatal(err)
	}
	for round := range 20 {
		key := fmt.Sprintf("key-%d", round)
		var wg sync.WaitGroup
		firsts := make([]int64, 8)
		dups := make([]bool, 8)
		for i := range firsts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := &Batch{Events: jevents(100*round, 2), IdempotencyKey: key}
				first, err := e.Publish(ctx, "k", b)
				if err != nil {
					t.Errorf("publish %d of %s: %v", i, key, err)
				}
				firsts[i], dups[i] = first, b.Duplicate
			}()
		}
		wg.Wait()
		winners := 0
		for i := range firsts {
			if firsts[i] != firsts[0] {
				t.Errorf("%s: answered first sequences %v", key, firsts)
				break
			}
			if !dups[i] {
				winners++
			}
		}
		if winners != 1 {
			t.Errorf("%s: %d publishes were not duplicates, want 1 (%v)", key, winners, dups)
		}
	}
	info, _ := e.Info("k")
	if info.Latest != 3+20*2-1 {
		t.Errorf("latest %d, want %d: a key's batch was published more than once", info.Latest, 3+20*2-1)
	}
	stopEngine()
	if got := len(journalContents(t, dir, "k")); got != 3+20*2 {
		t.Errorf("the journal holds %d events, want %d", got, 3+20*2)
	}
}

// TestJournaledRecoverDedupByTime: after a restart, an idempotency key
// published within the dedup window is still a duplicate (answered its
// original sequence), one published before the window is not.
func TestJournaledRecoverDedupByTime(t *testing.T) {
	dir := t.TempDir()
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func(c *Config) {
		c.Clock = func() time.Time { return time.Unix(0, now.Load()) }
		c.DedupWindow = time.Minute
	}
	e, stopEngine := journaledEngineFS(t, dir, journal.OSFS(), clock)
	if _, err := e.Create(DisruptorConfig{Name: "w", BufferSize: 8, Durability: DurabilityJournal}, true); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	publish := func(e *Engine, key string, n int) (int64, bool) {
		t.Helper()
		b := &Batch{Events: jevents(0, n), IdempotencyKey: key}
		first, err := e.Publish(ctx, "w", b)
		if err != nil {
			t.Fatalf("publish %s: %v", key, err)
		}
		return first, b.Duplicate
	}
	publish(e, "old", 2) // 0..1
	now.Add(int64(50 * time.Second))
	publish(e, "plain", 1) // 2, no key
	publish(e, "new", 3)   // 3..5
	stopEngine()

	now.Add(int64(30 * time.Second)) // "old" is 80 s old, "new" 30 s
	e, _ = journaledEngineFS(t, dir, journal.OSFS(), clock)
	if _, err := e.Recover("w", RecoverOptions{}); err != nil {
		t.Fatal(err)
	}
	if first, dup := publish(e, "new", 3); !dup || first != 3 {
		t.Errorf("retry of a key inside the window after a restart: first %d duplicate %v, want 3 true", first, dup)
	}
	if first, dup := publish(e, "old", 2); dup || first != 6 {
		t.Errorf("a key older than the window after a restart: first %d duplicate %v, want 6 false", first, dup)
	}
}

// TestJournaledRecoverRing: a restart brings back the numbering and the
// events whether the journal holds fewer events than the ring, as many,
// or more, from a first sequence of 0 or not, and with none published
// yet (created at first_sequence, then restarted).
func TestJournaledRecoverRing(t *testing.T) {
	const size = 8
	for _, first := range []int64{0, 1000} {
		for _, n := range []int{0, 1, 5, size, size + 1, 3*size + 2} {
			t.Run(fmt.Sprintf("first=%d/n=%d", first, n), func(t *testing.T) {
				dir := t.TempDir()
				e, stopEngine := journaledEngine(t, dir)
				if _, err := e.Create(DisruptorConfig{Name: "r", BufferSize: size, Durability: DurabilityJournal, FirstSequence: first}, true); err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				for i := 0; i < n; i += 3 {
					k := min(3, n-i)
					if got, err := e.Publish(ctx, "r", &Batch{Events: payloads(first+int64(i), k)}); err != nil || got != first+int64(i) {
						t.Fatalf("publish at %d: %d %v", first+int64(i), got, err)
					}
				}
				stopEngine()

				e, _ = journaledEngine(t, dir)
				info, err := e.Recover("r", RecoverOptions{})
				if err != nil {
					t.Fatal(err)
				}
				end := first + int64(n)
				if info.Oldest != first || info.Latest != end-1 || info.Published != end {
					t.Errorf("recovered oldest %d latest %d published %d, want %d %d %d", info.Oldest, info.Latest, info.Published, first, end-1, end)
				}
				if got, err := e.Publish(ctx, "r", &Batch{Events: payloads(end, 2)}); err != nil || got != end {
					t.Fatalf("first publish after the restart: %d %v, want %d", got, err, end)
				}
				end += 2
				readAll(t, e, "r", first, end)
				sub, err := e.Subscribe("r", SubscribeOptions{From: first})
				if err != nil {
					t.Fatal(err)
				}
				defer sub.Close()
				var rec Records
				for next := first; next < end; {
					if _, err := sub.Poll(&rec, 3); err != nil {
						t.Fatalf("poll at %d: %v", next, err)
					}
					for _, ev := range rec.Events {
						if want := fmt.Sprintf(`{"s":%d}`, next); ev.Sequence != next || string(ev.Payload) != want {
							t.Fatalf("subscription: %d %s, want %d %s", ev.Sequence, ev.Payload, next, want)
						}
						next++
					}
					if len(rec.Events) == 0 {
						<-sub.Wait()
					}
				}
			})
		}
	}
}

// payloads returns n events whose payloads name their sequences from
// first on.
func payloads(first int64, n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = Event{Payload: fmt.Appendf(nil, `{"s":%d}`, first+int64(i))}
	}
	return evs
}

// readAll reads from..end-1 with Read, a few events at a time, and
// checks each is there once, in order, with its payload.
func readAll(t *testing.T, e *Engine, name string, from, end int64) {
	t.Helper()
	var rec Records
	for next := from; next < end; {
		w, err := e.Read(name, next, 3, &rec)
		if err != nil {
			t.Fatalf("Read(%d): %v", next, err)
		}
		if len(rec.Events) == 0 {
			t.Fatalf("Read(%d): nothing, window %+v", next, w)
		}
		for _, ev := range rec.Events {
			if want := fmt.Sprintf(`{"s":%d}`, next); ev.Sequence != next || string(ev.Payload) != want {
				t.Fatalf("Read: %d %s, want %d %s", ev.Sequence, ev.Payload, next, want)
			}
			next++
		}
		if w.Next != next {
			t.Fatalf("Read: next %d, want %d", w.Next, next)
		}
	}
}

// TestJournaledTailHandover: tails from old sequences (below the ring)
// while publishes go on, some slow enough to fall a ring behind again
// while catching up: each gets every event once, in order, switching
// between the journal and the ring as it goes, and never lags out.
func TestJournaledTailHandover(t *testing.T) {
	for _, mode := range []string{"interval", "always"} {
		t.Run(mode, func(t *testing.T) {
			e, _ := journaledEngine(t, t.TempDir())
			if _, err := e.Create(DisruptorConfig{Name: "h", BufferSize: 16, Durability: DurabilityJournal, Sync: mode}, true); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			const before, total = 100, 3000
			if _, err := e.Publish(ctx, "h", &Batch{Events: payloads(0, 10)}); err != nil {
				t.Fatal(err)
			}
			for s := int64(10); s < before; s += 9 {
				if _, err := e.Publish(ctx, "h", &Batch{Events: payloads(s, int(min(9, before-s)))}); err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for s := int64(before); s < total; {
					k := int(min(1+s%7, total-s))
					if _, err := e.Publish(ctx, "h", &Batch{Events: payloads(s, k)}); err != nil {
						t.Errorf("publish at %d: %v", s, err)
						return
					}
					s += int64(k)
				}
			}()
			var wg sync.WaitGroup
			for r, from := range []int64{0, 1, 50, before - 16} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sub, err := e.Subscribe("h", SubscribeOptions{From: from})
					if err != nil {
						t.Error(err)
						return
					}
					defer sub.Close()
					var rec Records
					for next := from; next < total; {
						gap, err := sub.Poll(&rec, 1+r*5)
						if err != nil || gap.Count != 0 {
							t.Errorf("reader %d at %d: gap %+v, %v", r, next, gap, err)
							return
						}
						for _, ev := range rec.Events {
							if want := fmt.Sprintf(`{"s":%d}`, next); ev.Sequence != next || string(ev.Payload) != want {
								t.Errorf("reader %d: %d %s, want %d %s", r, ev.Sequence, ev.Payload, next, want)
								return
							}
							next++
						}
						if r%2 == 1 && next%50 == 0 {
							time.Sleep(time.Millisecond) // slow: the ring laps it
						}
						if len(rec.Events) == 0 {
							select {
							case <-sub.Wait():
							case <-time.After(10 * time.Second):
								t.Errorf("reader %d: stuck at %d", r, next)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			<-done
		})
	}
}

// TestJournaledReadBounded: a read from the journal with a large limit
// copies a bounded number of bytes (however small the ring, however
// large the events), and says where to go on; reading on gets the rest.
func TestJournaledReadBounded(t *testing.T) {
	e, _ := journaledEngine(t, t.TempDir())
	if _, err := e.Create(DisruptorConfig{Name: "big", BufferSize: 16, MaxEventSize: 1 << 20, Durability: DurabilityJournal, Sync: "never"}, true); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	payload := []byte(`"` + strings.Repeat("x", 1<<20-2) + `"`)
	const n = 40 // 40 MiB, from a ring of 16 events
	for range n / 4 {
		evs := make([]Event, 4)
		for i := range evs {
			evs[i] = Event{Payload: payload}
		}
		if _, err := e.Publish(ctx, "big", &Batch{Events: evs}); err != nil {
			t.Fatal(err)
		}
	}
	var rec Records
	for next := int64(0); next < n; {
		w, err := e.Read("big", next, 10_000, &rec)
		if err != nil {
			t.Fatal(err)
		}
		bytes := 0
		for _, ev := range rec.Events {
			bytes += ev.Size()
		}
		if len(rec.Events) == 0 || bytes > journalReadBytes+1<<20 {
			t.Fatalf("Read(%d, limit 10000): %d events, %d bytes; want at least one and at most %d bytes", next, len(rec.Events), bytes, journalReadBytes+1<<20)
		}
		if w.Next != next+int64(len(rec.Events)) || rec.Events[0].Sequence != next {
			t.Fatalf("Read(%d): first %d, next %d after %d events", next, rec.Events[0].Sequence, w.Next, len(rec.Events))
		}
		next = w.Next
	}
}

// TestJournaledRetentionRacesReader: retention by age dropping segments
// under a slow tail and reads from the journal: what they get is in
// order with no gap or duplicate, and a tail that loses its place is
// told so (lagged, naming an oldest past what it got).
func TestJournaledRetentionRacesReader(t *testing.T) {
	e, _ := journaledEngine(t, t.TempDir())
	// max_age 40 ms: a segment is sealed every 5 ms, dropped 40 ms on
	cfg := DisruptorConfig{Name: "ret", BufferSize: 16, Durability: DurabilityJournal, Sync: "never",
		Retention: journal.Retention{MaxAge: 40 * time.Millisecond}}
	if _, err := e.Create(cfg, true); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done := make(chan struct{})
	var published atomic.Int64
	go func() {
		defer close(done)
		deadline := time.Now().Add(400 * time.Millisecond)
		for s := int64(0); time.Now().Before(deadline); {
			if _, err := e.Publish(ctx, "ret", &Batch{Events: payloads(s, 3)}); err != nil {
				t.Errorf("publish at %d: %v", s, err)
				return
			}
			s += 3
			published.Store(s)
			time.Sleep(50 * time.Microsecond)
		}
	}()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // a slow tail from 0
		defer wg.Done()
		sub, err := e.Subscribe("ret", SubscribeOptions{From: 0})
		if err != nil {
			t.Error(err)
			return
		}
		defer sub.Close()
		var rec Records
		next := int64(0)
		for {
			_, err := sub.Poll(&rec, 4)
			for _, ev := range rec.Events {
				if want := fmt.Sprintf(`{"s":%d}`, next); ev.Sequence != next || string(ev.Payload) != want {
					t.Errorf("tail: %d %s, want %d %s", ev.Sequence, ev.Payload, next, want)
					return
				}
				next++
			}
			var lag *LaggedError
			if errors.As(err, &lag) {
				if lag.LastDelivered != next-1 || lag.Oldest <= next {
					t.Errorf("tail lagged at %d: %+v", next, lag)
				}
				t.Logf("the tail lost its place after %d events: oldest %d", next, lag.Oldest)
				return
			}
			if err != nil {
				t.Errorf("tail at %d: %v", next, err)
				return
			}
			select {
			case <-done:
				if len(rec.Events) == 0 {
					return
				}
			default:
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	go func() { // reads from the oldest the disruptor names
		defer wg.Done()
		var rec Records
		for {
			select {
			case <-done:
				return
			default:
			}
			info, _ := e.Info("ret")
			next := info.Oldest
			for range 5 {
				w, err := e.Read("ret", next, 7, &rec)
				var ev *EvictedError
				if errors.As(err, &ev) {
					if ev.Oldest <= next {
						t.Errorf("read from %d evicted, naming oldest %d", next, ev.Oldest)
					}
					break
				}
				if err != nil {
					t.Errorf("read from %d: %v", next, err)
					return
				}
				for _, got := range rec.Events {
					if want := fmt.Sprintf(`{"s":%d}`, next); got.Sequence != next || string(got.Payload) != want {
						t.Errorf("read: %d %s, want %d %s", got.Sequence, got.Payload, next, want)
						return
					}
					next++
				}
				if w.Next != next {
					t.Errorf("read: next %d, want %d", w.Next, next)
				}
				time.Sleep(time.Millisecond)
			}
		}
	}()
	wg.Wait()
	<-done
	info, _ := e.Info("ret")
	if info.Oldest == 0 {
		t.Errorf("retention dropped nothing (oldest 0 after %d events): the race did not run", published.Load())
	}
}

// TestJournaledPurgeReachesTails: a purge applies to live tails too: one
// below the purge, whose events the ring still holds, is told it lost
// them (lagged, or a gap under skip) instead of being served them.
func TestJournaledPurgeReachesTails(t *testing.T) {
	e, _ := journaledEngine(t, t.TempDir())
	if _, err := e.Create(DisruptorConfig{Name: "pt", BufferSize: 64, Durability: DurabilityJournal}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Publish(context.Background(), "pt", &Batch{Events: payloads(0, 10)}); err != nil {
		t.Fatal(err)
	}
	subs := map[LagPolicy]*Subscription{}
	for _, p := range []LagPolicy{LagDisconnect, LagSkip} {
		sub, err := e.Subscribe("pt", SubscribeOptions{From: 0, OnLag: p})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		var rec Records
		for len(rec.Events) == 0 {
			<-sub.Wait()
			if _, err := sub.Poll(&rec, 2); err != nil {
				t.Fatal(err)
			}
		}
		if len(rec.Events) != 2 {
			t.Fatalf("first poll: %d events", len(rec.Events))
		}
		subs[p] = sub
	}
	w, _ := e.Writer("pt")
	if _, err := w.(*Ring).Purge(5); err != nil {
		t.Fatal(err)
	}
	var rec Records
	_, err := subs[LagDisconnect].Poll(&rec, 10)
	var lag *LaggedError
	if !errors.As(err, &lag) || lag.LastDelivered != 1 || lag.Oldest != 5 || len(rec.Events) != 0 {
		t.Errorf("tail below the purge: %d events from %v, %v; want lagged after 1, oldest 5", len(rec.Events), firstSeq(&rec), err)
	}
	gap, err := subs[LagSkip].Poll(&rec, 10)
	if err != nil || gap != (Gap{From: 2, To: 4, Count: 3}) || len(rec.Events) == 0 || rec.Events[0].Sequence != 5 {
		t.Errorf("skipping tail below the purge: gap %+v, %d events from %v, %v; want gap 2..4 then 5", gap, len(rec.Events), firstSeq(&rec), err)
	}
}

func firstSeq(rec *Records) any {
	if len(rec.Events) == 0 {
		return "none"
	}
	return rec.Events[0].Sequence
}
