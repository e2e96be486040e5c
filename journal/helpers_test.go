package journal

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// logBuffer collects what the journal logs, for tests that check a
// report names a file and an offset.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type env struct {
	t    *testing.T
	path string
	fs   *faultFS
	log  *logBuffer
	now  time.Time
	mu   sync.Mutex
	dir  *Dir
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, path: t.TempDir(), fs: newFaultFS(), log: &logBuffer{}, now: time.Unix(1_700_000_000, 0)}
	e.openDir()
	t.Cleanup(func() {
		if e.dir != nil {
			e.dir.Close()
		}
	})
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func (e *env) openDir() {
	e.t.Helper()
	d, err := OpenDir(e.path, DirOptions{
		FS:     e.fs,
		Logger: slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    e.clock,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.dir = d
}

// reopen closes the directory (and its journals) and opens it again.
func (e *env) reopen() {
	e.t.Helper()
	if err := e.dir.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.openDir()
}

func (e *env) create(name string, first int64, o Options) *Journal {
	e.t.Helper()
	j, err := e.dir.Create(name, first, []byte("meta of "+name), o)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

func (e *env) open(name string, o Options) *Journal {
	e.t.Helper()
	j, err := e.dir.Open(name, o)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// smallOptions makes segments small, so tests see several of them.
func smallOptions() Options {
	o := DefaultOptions()
	o.SegmentBytes = 4 << 10
	o.IndexInterval = 256
	return o
}

// makeBatch returns a batch of n events from first, whose content depends
// on their sequence; every third batch has a key and metadata.
func makeBatch(first int64, n int) Batch {
	b := Batch{First: first, Time: 1_700_000_000_000_000_000 + first}
	if first%3 == 0 {
		b.Key = fmt.Sprintf("key-%d", first)
		b.Hash = uint64(first) * 0x9e3779b97f4a7c15
	}
	for i := range n {
		seq := first + int64(i)
		e := Event{Payload: []byte(fmt.Sprintf(`{"seq":%d,"pad":%q}`, seq, strings.Repeat("x", int(seq%37))))}
		if seq%5 == 0 {
			e.Binary = true
			e.Payload = append(e.Payload, 0, 0xff, byte(seq))
		}
		if first%3 == 0 {
			e.Metadata = []Metadata{{"traceparent", fmt.Sprintf("00-%032d-%016d-01", seq, seq)}, {"k", ""}}
		}
		b.Events = append(b.Events, e)
	}
	return b
}

// readAll reads every batch from from to the end, copied.
func readAll(t *testing.T, j *Journal, from int64) []Batch {
	t.Helper()
	r, err := j.NewReader(from)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []Batch
	for {
		b, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cloneBatch(b))
	}
}

func cloneBatch(b *Batch) Batch {
	c := *b
	c.Events = make([]Event, len(b.Events))
	for i, e := range b.Events {
		c.Events[i] = Event{Payload: bytes.Clone(e.Payload), Binary: e.Binary}
		if len(e.Metadata) > 0 {
			c.Events[i].Metadata = append([]Metadata(nil), e.Metadata...)
		}
	}
	return c
}

// normalize makes nil and empty payloads compare equal.
var normalize = cmp.Transformer("payload", func(p []byte) string { return string(p) })

func diffBatches(want, got []Batch) string { return cmp.Diff(want, got, normalize) }
