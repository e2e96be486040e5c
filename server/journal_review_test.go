package server

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/badbatch/badbatch/journal"
	"github.com/badbatch/badbatch/wire"
)

// TestJournalReadBoundaries: over a socket, reads and tails of a journaled
// disruptor at the edges of its ring and its journal: at the ring's
// oldest and one below (the journal's), at the journal's oldest and one
// below (410 naming the oldest), at the next sequence and past it.
func TestJournalReadBoundaries(t *testing.T) {
	s := startJournaled(t, journalConfig(t.TempDir()), nil)
	s.do("POST", "/api/v1/disruptors", map[string]any{"name": "b", "buffer_size": 16}, nil)
	const n = 60
	for i := 0; i < n; i += 6 {
		s.publish("b", i, 6, "")
	}
	var d wire.Disruptor
	if code := s.do("POST", "/api/v1/disruptors/b/purge", map[string]any{"before": 7}, &d); code != http.StatusOK || d.OldestSequence != 7 {
		t.Fatalf("purge: %d, oldest %d", code, d.OldestSequence)
	}
	ringOldest := n - 16
	for _, from := range []int{7, 8, ringOldest - 1, ringOldest, ringOldest + 1, n - 1} {
		checkEvents(t, s.readAll("b", int64(from)), from, n-1)
		var p page
		if code := s.do("GET", fmt.Sprintf("/api/v1/disruptors/b/events?from=%d&limit=10000", from), nil, &p); code != http.StatusOK {
			t.Fatalf("one page from %d: %d", from, code)
		}
		checkEvents(t, p.Events, from, n-1)
		if p.Next != n || p.Oldest != 7 {
			t.Errorf("page from %d: next %d oldest %d, want %d 7", from, p.Next, p.Oldest, n)
		}
		var ev event
		if code := s.do("GET", fmt.Sprintf("/api/v1/disruptors/b/events/%d", from), nil, &ev); code != http.StatusOK || ev.Sequence != int64(from) || string(ev.Data) != fmt.Sprintf(`{"i":%d}`, from) {
			t.Errorf("GET event %d: %d %+v", from, code, ev)
		}
		checkEvents(t, readStream(t, fmt.Sprintf("%s/api/v1/disruptors/b/events/stream?from=%d&format=ndjson", s.url, from), n-from), from, n-1)
	}
	for _, path := range []string{"/events?from=6", "/events/6", "/events/0", "/events/stream?from=6&format=ndjson"} {
		var e wire.ErrorBody
		if code := s.do("GET", "/api/v1/disruptors/b"+path, nil, &e); code != http.StatusGone || e.Error.Code != "SEQUENCE_EVICTED" || e.Error.Details["oldest_sequence"] != 7.0 {
			t.Errorf("%s below the journal: %d %+v, want 410 naming oldest 7", path, code, e.Error)
		}
	}
	for _, from := range []int{n, n + 1, n + 1000} {
		var p page
		if code := s.do("GET", fmt.Sprintf("/api/v1/disruptors/b/events?from=%d", from), nil, &p); code != http.StatusOK || len(p.Events) != 0 {
			t.Errorf("read from %d, past the end: %d, %d events", from, code, len(p.Events))
		}
	}
	if code := s.do("GET", fmt.Sprintf("/api/v1/disruptors/b/events/%d", n), nil, nil); code != http.StatusNotFound {
		t.Errorf("GET event %d (not published): %d, want 404", n, code)
	}
}

// TestJournalMetaDamaged: a stream whose metadata is missing, garbage or
// not the engine's keeps only its disruptor down (404, named in the log
// and in badbatch_journal_down), the others start, and its name is not
// taken by a create meanwhile.
func TestJournalMetaDamaged(t *testing.T) {
	dataDir := t.TempDir()
	s := startJournaled(t, journalConfig(dataDir), nil)
	names := []string{"good", "nometa", "garbage", "notjson"}
	for _, n := range names {
		s.do("POST", "/api/v1/disruptors", map[string]any{"name": n}, nil)
		s.publish(n, 0, 3, "")
	}
	s.stop()
	streams := filepath.Join(dataDir, "journal", "streams")
	if err := os.Remove(filepath.Join(streams, "nometa", "meta")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(streams, "garbage", "meta"), []byte("not a meta file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	// a well-formed meta file whose bytes are not the engine's JSON
	jd, err := journal.OpenDir(filepath.Join(dataDir, "journal"), journal.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j, err := jd.Open("notjson", journal.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := j.SetMeta([]byte("{")); err != nil {
		t.Fatal(err)
	}
	j.Close()
	jd.Close()

	s = startJournaled(t, journalConfig(dataDir), nil)
	checkEvents(t, s.readAll("good", 0), 0, 2)
	res, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, n := range names[1:] {
		if code := s.do("GET", "/api/v1/disruptors/"+n, nil, nil); code != http.StatusNotFound {
			t.Errorf("%s after restart: %d, want 404 (down)", n, code)
		}
		if !strings.Contains(string(mb), fmt.Sprintf(`badbatch_journal_down{disruptor=%q} 1`, n)) {
			t.Errorf("/metrics has no badbatch_journal_down for %s", n)
		}
		if !strings.Contains(s.logs.String(), "disruptor="+n) {
			t.Errorf("the log does not name %s", n)
		}
		if code := s.do("POST", "/api/v1/disruptors", map[string]any{"name": n}, nil); code != http.StatusConflict {
			t.Errorf("create over the down journal of %s: %d, want 409", n, code)
		}
	}
}

// TestJournalDiskFullKeyedRetry: a keyed publish refused for a full disk
// (507) is not remembered: its retry once there is room is published, at
// the sequence the refused one would have had, and a retry of that is a
// duplicate. A multi-disruptor publish reports the refusal per batch.
func TestJournalDiskFullKeyedRetry(t *testing.T) {
	fsys := &limitFS{FS: journal.OSFS(), limit: -1}
	s := startJournaled(t, journalConfig(t.TempDir()), fsys)
	for _, n := range []string{"kf", "other"} {
		s.do("POST", "/api/v1/disruptors", map[string]any{"name": n, "sync": "always"}, nil)
	}
	s.publish("kf", 0, 2, "")
	fsys.setLimit(16)
	var e wire.ErrorBody
	body := map[string]any{"events": []map[string]any{{"payload": map[string]int{"i": 2}}}}
	if code := s.do("POST", "/api/v1/disruptors/kf/events", body, &e, "Idempotency-Key", "k1"); code != http.StatusInsufficientStorage || e.Error.Code != "JOURNAL_FULL" {
		t.Fatalf("keyed publish on a full disk: %d %+v", code, e.Error)
	}
	var multi struct {
		Results []struct {
			Disruptor string `json:"disruptor"`
			Error     *struct {
				Code string `json:"code"`
			} `json:"error"`
		} `json:"results"`
	}
	mbody := map[string]any{"batches": []map[string]any{{"disruptor": "other", "events": []map[string]any{{"payload": 1}}}}}
	if code := s.do("POST", "/api/v1/events", mbody, &multi); code != http.StatusMultiStatus || len(multi.Results) != 1 || multi.Results[0].Error == nil || multi.Results[0].Error.Code != "JOURNAL_FULL" {
		t.Errorf("multi-disruptor publish on a full disk: %d %+v", code, multi)
	}
	fsys.setLimit(-1)
	var res wire.PublishResult
	if code := s.do("POST", "/api/v1/disruptors/kf/events", body, &res, "Idempotency-Key", "k1"); code != http.StatusOK || res.Duplicate || res.FirstSequence != 2 {
		t.Errorf("the retry once there is room: %d %+v, want published at 2", code, res)
	}
	if code := s.do("POST", "/api/v1/disruptors/kf/events", body, &res, "Idempotency-Key", "k1"); code != http.StatusOK || !res.Duplicate || res.FirstSequence != 2 {
		t.Errorf("a second retry: %d %+v, want a duplicate at 2", code, res)
	}
	checkEvents(t, s.readAll("kf", 0), 0, 2)
	var d wire.Disruptor
	if s.do("GET", "/api/v1/disruptors/other", nil, &d); d.Published != 0 {
		t.Errorf("other after the refused multi publish: published %d", d.Published)
	}
}
