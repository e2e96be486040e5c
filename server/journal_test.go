package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/badbatch/badbatch/config"
	"github.com/badbatch/badbatch/journal"
	"github.com/badbatch/badbatch/wire"
)

// jserver is a standalone server on a data directory, served over a
// loopback socket, that a test stops and starts again.
type jserver struct {
	t      *testing.T
	srv    *Server
	served chan error
	url    string
	logs   *syncLog
}

// syncLog is a logger's output, safe for concurrent writes.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func journalConfig(dataDir string) config.Config {
	cfg := config.Default()
	cfg.Server.BindAddr = "127.0.0.1:0"
	cfg.Server.ShutdownTimeout = 10 * time.Second
	cfg.Server.DataDir = dataDir
	return cfg
}

// startJournaled starts a server with cfg (and opts' journal file
// system); it is closed when the test ends unless stopped before.
func startJournaled(t *testing.T, cfg config.Config, fsys journal.FS) *jserver {
	t.Helper()
	s, err := tryStart(t, cfg, fsys)
	if err != nil {
		t.Fatalf("New: %v\n%s", err, s.logs)
	}
	return s
}

func tryStart(t *testing.T, cfg config.Config, fsys journal.FS) (*jserver, error) {
	t.Helper()
	logs := &syncLog{}
	log, err := NewLogger(logs, config.Logging{Level: "info", Format: "text"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := New(ctx, cfg, Options{Logger: log, JournalFS: fsys})
	s := &jserver{t: t, srv: srv, logs: logs, served: make(chan error, 1)}
	if err != nil {
		return s, err
	}
	s.url = "http://" + srv.Addr().String()
	go func() { s.served <- srv.Serve() }()
	t.Cleanup(s.stop)
	return s, nil
}

// stop shuts the server down gracefully (a clean restart follows).
func (s *jserver) stop() {
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.t.Errorf("Shutdown: %v", err)
	}
	<-s.served
	s.srv = nil
}

// do sends a JSON request and decodes a JSON answer into out (when not
// nil); it returns the status.
func (s *jserver) do(method, path string, body any, out any, header ...string) int {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return res.StatusCode
}

type event struct {
	Sequence int64           `json:"sequence"`
	Data     json.RawMessage `json:"payload"`
}

type page struct {
	Events []event `json:"events"`
	Next   int64   `json:"next_sequence"`
	Oldest int64   `json:"oldest_sequence"`
}

// publish publishes n events {"i": from..from+n-1} in one batch and
// returns the result.
func (s *jserver) publish(name string, from, n int, key string) (wire.PublishResult, int) {
	s.t.Helper()
	evs := make([]map[string]any, n)
	for i := range evs {
		evs[i] = map[string]any{"payload": map[string]int{"i": from + i}}
	}
	var res wire.PublishResult
	var h []string
	if key != "" {
		h = []string{"Idempotency-Key", key}
	}
	code := s.do("POST", "/api/v1/disruptors/"+name+"/events", map[string]any{"events": evs}, &res, h...)
	return res, code
}

// readAll reads the events of name from from on, page after page.
func (s *jserver) readAll(name string, from int64) []event {
	s.t.Helper()
	var all []event
	for {
		var p page
		if code := s.do("GET", fmt.Sprintf("/api/v1/disruptors/%s/events?from=%d&limit=7", name, from), nil, &p); code != http.StatusOK {
			s.t.Fatalf("read %s from %d: %d", name, from, code)
		}
		if len(p.Events) == 0 {
			return all
		}
		all = append(all, p.Events...)
		from = p.Next
	}
}

func checkEvents(t *testing.T, got []event, from, to int) {
	t.Helper()
	if len(got) != to-from+1 {
		t.Fatalf("%d events, want %d (%d..%d)", len(got), to-from+1, from, to)
	}
	for k, e := range got {
		want := fmt.Sprintf(`{"i":%d}`, from+k)
		if e.Sequence != int64(from+k) || string(e.Data) != want {
			t.Fatalf("event %d = %d %s, want %d %s", k, e.Sequence, e.Data, from+k, want)
		}
	}
}

// TestJournalRestart: what a journaled disruptor was told and answered
// is all there after the server restarts on the same data directory: the
// catalog, the states, every event (also beyond the ring, from the
// journal), the numbering, and keyed retries recognised as duplicates. A
// memory disruptor is not.
func TestJournalRestart(t *testing.T) {
	dataDir := t.TempDir()
	s := startJournaled(t, journalConfig(dataDir), nil)
	var d wire.Disruptor
	if code := s.do("POST", "/api/v1/disruptors", map[string]any{"name": "orders", "buffer_size": 16}, &d); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	if d.Durability != "journal" || d.Sync != "interval" || d.Journal == nil {
		t.Fatalf("the server's default durability: %+v", d)
	}
	for _, c := range []map[string]any{
		{"name": "audit", "sync": "always", "retention": map[string]any{"max_events": 1000}},
		{"name": "scratch", "durability": "memory"},
		{"name": "parked"},
	} {
		if code := s.do("POST", "/api/v1/disruptors", c, nil); code != http.StatusCreated {
			t.Fatalf("create %v: %d", c, code)
		}
	}
	// 25 events in batches of 1, 4 and 10, some keyed
	seq := 0
	for i, n := range []int{1, 4, 10, 1, 4, 1, 4} {
		key := ""
		if i%2 == 0 {
			key = fmt.Sprintf("k%d", i)
		}
		res, code := s.publish("orders", seq, n, key)
		if code != http.StatusOK && code != http.StatusCreated || res.FirstSequence != int64(seq) {
			t.Fatalf("publish %d: %d %+v", i, code, res)
		}
		seq += n
	}
	s.publish("audit", 0, 3, "")
	s.publish("scratch", 0, 3, "")
	s.publish("parked", 0, 2, "")
	if code := s.do("PUT", "/api/v1/disruptors/parked/state", map[string]string{"state": "paused"}, nil); code != http.StatusOK {
		t.Fatalf("pause: %d", code)
	}
	checkEvents(t, s.readAll("orders", 0), 0, seq-1) // beyond the ring of 16: from the journal
	s.stop()

	s = startJournaled(t, journalConfig(dataDir), nil)
	var list wire.DisruptorList
	s.do("GET", "/api/v1/disruptors", nil, &list)
	states := map[string]string{}
	for _, d := range list.Disruptors {
		states[d.Name] = d.State
	}
	if want := map[string]string{"orders": "running", "audit": "running", "parked": "paused"}; fmt.Sprint(states) != fmt.Sprint(want) {
		t.Fatalf("after restart: %v, want %v (the memory disruptor is gone)", states, want)
	}
	s.do("GET", "/api/v1/disruptors/audit", nil, &d)
	if d.Sync != "always" || d.Retention == nil || d.Retention.MaxEvents != 1000 || d.LatestSequence != 2 {
		t.Errorf("audit after restart: %+v", d)
	}
	checkEvents(t, s.readAll("orders", 0), 0, seq-1)
	// numbering continues; a retry of a key within the window is a duplicate
	res, _ := s.publish("orders", seq, 2, "")
	if res.FirstSequence != int64(seq) {
		t.Errorf("first publish after restart at %d, want %d", res.FirstSequence, seq)
	}
	res, code := s.publish("orders", 5, 10, "k2")
	if code != http.StatusOK || !res.Duplicate || res.FirstSequence != 5 {
		t.Errorf("retry of k2 after restart: %d %+v, want a duplicate at 5", code, res)
	}
	if _, code := s.publish("orders", 99, 10, "k2"); code != http.StatusUnprocessableEntity {
		t.Errorf("k2 with another batch: %d, want 422", code)
	}
	// a live tail from 0 catches up from the journal, then follows the ring
	tail := readStream(t, s.url+"/api/v1/disruptors/orders/events/stream?from=0&format=ndjson", seq+2)
	checkEvents(t, tail, 0, seq+1)

	// the journal's metrics
	res2, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res2.Body)
	res2.Body.Close()
	for _, m := range []string{`badbatch_journal_bytes{disruptor="orders"}`, `badbatch_journal_appends_total{disruptor="orders"} 1`,
		`badbatch_journal_segments{disruptor="audit"} 1`, "badbatch_journal_fsync_seconds_count", `badbatch_journal_write_errors_total{disruptor="orders"} 0`} {
		if !strings.Contains(string(b), m) {
			t.Errorf("/metrics has no %s", m)
		}
	}
}

// TestJournalRetention: events older than the retention's max_age go
// (whole segments: the active one is sealed once its first batch is an
// eighth of max_age old), and reads below what is kept are 410.
func TestJournalRetention(t *testing.T) {
	s := startJournaled(t, journalConfig(t.TempDir()), nil)
	s.do("POST", "/api/v1/disruptors", map[string]any{"name": "r", "retention": map[string]any{"max_age_ms": 300}}, nil)
	s.publish("r", 0, 3, "")
	time.Sleep(400 * time.Millisecond)
	s.publish("r", 3, 2, "") // seals the old segment; retention drops it
	var d wire.Disruptor
	s.do("GET", "/api/v1/disruptors/r", nil, &d)
	if d.OldestSequence != 3 || d.Journal.OldestSequence != 3 || d.Retention.MaxAgeMS != 300 {
		t.Fatalf("after retention: oldest %d, %+v, %+v", d.OldestSequence, d.Journal, d.Retention)
	}
	var e wire.ErrorBody
	if code := s.do("GET", "/api/v1/disruptors/r/events?from=0", nil, &e); code != http.StatusGone || e.Error.Details["oldest_sequence"] != 3.0 {
		t.Errorf("read below retention: %d %+v", code, e.Error)
	}
	checkEvents(t, s.readAll("r", 3), 3, 4)
}

// readStream reads n events of an NDJSON stream.
func readStream(t *testing.T, url string, n int) []event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("stream: %d %s", res.StatusCode, b)
	}
	dec := json.NewDecoder(res.Body)
	var out []event
	for len(out) < n {
		var e event
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("stream after %d events: %v", len(out), err)
		}
		if e.Data == nil {
			continue // not an event
		}
		out = append(out, e)
	}
	return out
}

// TestJournalPurgeAndDelete: a purge drops the events below a sequence
// (410 below it, the rest readable), and a delete removes the files.
func TestJournalPurgeAndDelete(t *testing.T) {
	dataDir := t.TempDir()
	s := startJournaled(t, journalConfig(dataDir), nil)
	s.do("POST", "/api/v1/disruptors", map[string]any{"name": "p", "buffer_size": 4}, nil)
	for i := range 5 {
		s.publish("p", i*4, 4, "")
	}
	var d wire.Disruptor
	if code := s.do("POST", "/api/v1/disruptors/p/purge", map[string]any{"before": 10}, &d); code != http.StatusOK {
		t.Fatalf("purge: %d", code)
	}
	if d.OldestSequence != 10 || d.Journal.OldestSequence != 10 {
		t.Errorf("after purge: oldest %d, journal %+v", d.OldestSequence, d.Journal)
	}
	var e wire.ErrorBody
	if code := s.do("GET", "/api/v1/disruptors/p/events?from=9", nil, &e); code != http.StatusGone || e.Error.Code != "SEQUENCE_EVICTED" {
		t.Errorf("read below the purge: %d %+v", code, e)
	}
	checkEvents(t, s.readAll("p", 10), 10, 19)
	for _, c := range []struct {
		body any
		code int
	}{
		{map[string]any{"before": 21}, http.StatusBadRequest}, // past the next sequence
		{map[string]any{}, http.StatusBadRequest},
		{map[string]any{"before": 1, "extra": 1}, http.StatusBadRequest},
	} {
		if code := s.do("POST", "/api/v1/disruptors/p/purge", c.body, nil); code != c.code {
			t.Errorf("purge %v: %d, want %d", c.body, code, c.code)
		}
	}
	s.do("POST", "/api/v1/disruptors", map[string]any{"name": "m", "durability": "memory"}, nil)
	if code := s.do("POST", "/api/v1/disruptors/m/purge", map[string]any{"before": 0}, &e); code != http.StatusConflict || e.Error.Code != "NOT_JOURNALED" {
		t.Errorf("purge of a memory disruptor: %d %+v", code, e)
	}
	stream := filepath.Join(dataDir, "journal", "streams", "p")
	if _, err := os.Stat(stream); err != nil {
		t.Fatal(err)
	}
	if code := s.do("DELETE", "/api/v1/disruptors/p", nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if _, err := os.Stat(stream); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the stream's files after DELETE: %v", err)
	}
	// the name is free, with a new journal from 0
	s.do("POST", "/api/v1/disruptors", map[string]any{"name": "p"}, nil)
	if res, _ := s.publish("p", 0, 1, ""); res.FirstSequence != 0 {
		t.Errorf("recreated: first %d", res.FirstSequence)
	}
}

// TestJournalSettingsRefused: every bad journal setting is a 400 naming
// it.
func TestJournalSettingsRefused(t *testing.T) {
	s := startJournaled(t, journalConfig(t.TempDir()), nil)
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "a", "durability": "disk"}, "durability"},
		{map[string]any{"name": "a", "sync": "sometimes"}, "sync"},
		{map[string]any{"name": "a", "durability": "memory", "sync": "always"}, "sync"},
		{map[string]any{"name": "a", "durability": "memory", "retention": map[string]any{"max_events": 5}}, "retention"},
		{map[string]any{"name": "a", "retention": map[string]any{"max_events": -1}}, "retention.max_events"},
		{map[string]any{"name": "a", "retention": map[string]any{"max_age_ms": -1}}, "retention.max_age_ms"},
		{map[string]any{"name": "a", "retention": map[string]any{"max_evnts": 1}}, "max_evnts"},
		{map[string]any{"name": "a", "replication": "quorum", "durability": "journal"}, "durability"},
	} {
		var e wire.ErrorBody
		code := s.do("POST", "/api/v1/disruptors", c.body, &e)
		b, _ := json.Marshal(e)
		if code != http.StatusBadRequest || !strings.Contains(string(b), c.field) {
			t.Errorf("create %v: %d %s, want 400 naming %s", c.body, code, b, c.field)
		}
	}
}

// TestJournalLocked: a second server on the same data directory is
// refused at start, naming the lock.
func TestJournalLocked(t *testing.T) {
	dataDir := t.TempDir()
	startJournaled(t, journalConfig(dataDir), nil)
	_, err := tryStart(t, journalConfig(dataDir), nil)
	if !errors.Is(err, journal.ErrLocked) || !strings.Contains(err.Error(), filepath.Join(dataDir, "journal", "LOCK")) {
		t.Fatalf("second server: %v, want ErrLocked naming the lock file", err)
	}
}

// TestJournalCorruptStream: a corrupt record keeps only its disruptor
// down (logged naming the file and offset); the others start. Started
// with its repair switch, it comes back cut at the corruption.
func TestJournalCorruptStream(t *testing.T) {
	dataDir := t.TempDir()
	s := startJournaled(t, journalConfig(dataDir), nil)
	for _, n := range []string{"good", "bad"} {
		s.do("POST", "/api/v1/disruptors", map[string]any{"name": n}, nil)
		s.publish(n, 0, 3, "")
		s.publish(n, 3, 3, "")
		s.publish(n, 6, 3, "")
	}
	s.stop()
	seg := filepath.Join(dataDir, "journal", "streams", "bad", "00000000000000000000.log")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// a byte in the body of the second record: 24 header bytes, then
	// records of equal size (three events of the same length)
	rec := (len(b) - 24) / 3
	b[24+rec+rec/2] ^= 0xff
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}

	s = startJournaled(t, journalConfig(dataDir), nil)
	if code := s.do("GET", "/api/v1/disruptors/good", nil, nil); code != http.StatusOK {
		t.Errorf("good after restart: %d", code)
	}
	if code := s.do("GET", "/api/v1/disruptors/bad", nil, nil); code != http.StatusNotFound {
		t.Errorf("bad after restart: %d, want 404 (down)", code)
	}
	if logs := s.logs.String(); !strings.Contains(logs, seg) || !strings.Contains(logs, fmt.Sprintf("offset=%d", 24+rec)) || !strings.Contains(logs, "--journal-repair bad") {
		t.Errorf("the log does not name the file, offset and the way out:\n%s", logs)
	}
	res, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(mb), `badbatch_journal_down{disruptor="bad"} 1`) {
		t.Error(`/metrics has no badbatch_journal_down{disruptor="bad"} 1`)
	}
	// its name is not taken over by a create meanwhile
	if code := s.do("POST", "/api/v1/disruptors", map[string]any{"name": "bad"}, nil); code != http.StatusConflict {
		t.Errorf("create over a down journal: %d, want 409", code)
	}
	s.stop()

	cfg := journalConfig(dataDir)
	cfg.Server.JournalRepair = []string{"bad"}
	s = startJournaled(t, cfg, nil)
	checkEvents(t, s.readAll("bad", 0), 0, 2)
	if res, _ := s.publish("bad", 3, 1, ""); res.FirstSequence != 3 {
		t.Errorf("after repair the numbering continues at %d, want 3", res.FirstSequence)
	}
}

// TestJournalDiskFull: a publish the journal cannot write for want of
// room is answered 507 JOURNAL_FULL and is not published; once there is
// room publishes go on at the next sequence.
func TestJournalDiskFull(t *testing.T) {
	fsys := &limitFS{FS: journal.OSFS(), limit: -1}
	s := startJournaled(t, journalConfig(t.TempDir()), fsys)
	s.do("POST", "/api/v1/disruptors", map[string]any{"name": "full", "sync": "always"}, nil)
	s.publish("full", 0, 2, "")
	fsys.setLimit(16) // less than a record
	var e wire.ErrorBody
	evs := map[string]any{"events": []map[string]any{{"payload": map[string]int{"i": 2}}}}
	if code := s.do("POST", "/api/v1/disruptors/full/events", evs, &e); code != http.StatusInsufficientStorage || e.Error.Code != "JOURNAL_FULL" {
		t.Fatalf("publish on a full disk: %d %+v, want 507 JOURNAL_FULL", code, e)
	}
	var d wire.Disruptor
	s.do("GET", "/api/v1/disruptors/full", nil, &d)
	if d.LatestSequence != 1 || d.Published != 2 {
		t.Errorf("after the refused publish: latest %d, published %d", d.LatestSequence, d.Published)
	}
	fsys.setLimit(-1)
	if res, code := s.publish("full", 2, 1, ""); code != http.StatusOK || res.FirstSequence != 2 {
		t.Errorf("once there is room: %d %+v", code, res)
	}
	checkEvents(t, s.readAll("full", 0), 0, 2)
}

// TestJournalFsyncFails: with sync always, a publish whose fsync fails is
// 503 OUTCOME_UNKNOWN (its events were written and published), later
// publishes are 503 JOURNAL_UNAVAILABLE, and a retry of its key is a
// duplicate; after a restart the journal's content is the truth.
func TestJournalFsyncFails(t *testing.T) {
	dataDir := t.TempDir()
	fsys := &limitFS{FS: journal.OSFS(), limit: -1}
	s := startJournaled(t, journalConfig(dataDir), fsys)
	s.do("POST", "/api/v1/disruptors", map[string]any{"name": "f", "sync": "always"}, nil)
	s.publish("f", 0, 2, "")
	fsys.setFailSync(true)
	var res wire.PublishResult
	var e wire.ErrorBody
	body := map[string]any{"events": []map[string]any{{"payload": map[string]int{"i": 2}}}}
	if code := s.do("POST", "/api/v1/disruptors/f/events", body, &e, "Idempotency-Key", "k"); code != http.StatusServiceUnavailable || e.Error.Code != "OUTCOME_UNKNOWN" {
		t.Fatalf("publish whose fsync fails: %d %+v", code, e.Error)
	}
	fsys.setFailSync(false)
	if _, code := s.publish("f", 3, 1, ""); code != http.StatusServiceUnavailable {
		t.Errorf("publish after a failed fsync: %d, want 503 JOURNAL_UNAVAILABLE", code)
	}
	if code := s.do("POST", "/api/v1/disruptors/f/events", body, &res, "Idempotency-Key", "k"); code != http.StatusOK || !res.Duplicate || res.FirstSequence != 2 {
		t.Errorf("retry of the key: %d %+v", code, res)
	}
	s.stop()
	s = startJournaled(t, journalConfig(dataDir), nil)
	checkEvents(t, s.readAll("f", 0), 0, 2) // the page cache kept the write
	if res, code := s.publish("f", 3, 1, ""); code != http.StatusOK || res.FirstSequence != 3 {
		t.Errorf("after the restart: %d %+v", code, res)
	}
}

// limitFS lets the files written through it grow by limit bytes in all
// (< 0: no limit), then fails writes with ENOSPC, as a full disk does;
// with failSync its files' fsyncs fail with EIO.
type limitFS struct {
	journal.FS
	mu       sync.Mutex
	limit    int64
	failSync bool
}

func (l *limitFS) setFailSync(b bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failSync = b
}

func (f *limitFile) Sync() error {
	f.fs.mu.Lock()
	fail := f.fs.failSync
	f.fs.mu.Unlock()
	if fail {
		return &os.PathError{Op: "fsync", Path: "journal", Err: syscall.EIO}
	}
	return f.File.Sync()
}

func (l *limitFS) setLimit(n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limit = n
}

func (l *limitFS) OpenFile(name string, flag int, perm fs.FileMode) (journal.File, error) {
	f, err := l.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &limitFile{File: f, fs: l}, nil
}

type limitFile struct {
	journal.File
	fs *limitFS
}

func (f *limitFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.fs.limit >= 0 {
		size, err := f.File.Size()
		if err != nil {
			return 0, err
		}
		grow := max(off+int64(len(p))-size, 0)
		if grow > f.fs.limit {
			n := max(min(int64(len(p)), size+f.fs.limit-off), 0)
			w, _ := f.File.WriteAt(p[:n], off)
			f.fs.limit -= max(off+int64(w)-size, 0)
			return w, &os.PathError{Op: "write", Path: "journal", Err: syscall.ENOSPC}
		}
		f.fs.limit -= grow
	}
	return f.File.WriteAt(p, off)
}

// TestDeclaredJournaled: a declared disruptor that its journal brings
// back keeps its events and state; declaring other settings for it is
// refused at start, naming them.
func TestDeclaredJournaled(t *testing.T) {
	dataDir := t.TempDir()
	cfg := journalConfig(dataDir)
	cfg.Disruptor.Disruptors = []config.DisruptorSpec{{Name: "decl", BufferSize: 16}}
	s := startJournaled(t, cfg, nil)
	s.publish("decl", 0, 5, "")
	s.stop()
	s = startJournaled(t, cfg, nil)
	checkEvents(t, s.readAll("decl", 0), 0, 4)
	s.stop()
	cfg.Disruptor.Disruptors[0].BufferSize = 32
	_, err := tryStart(t, cfg, nil)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "buffer_size 32 (its journal has 16)") {
		t.Fatalf("a changed declaration: %v", err)
	}
}
