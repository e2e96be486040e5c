package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/badbatch/badbatch/internal/proctest"
)

// The crash test of issue 13: a journaled disruptor of a real `badbatch
// server` on a data directory takes four publishers over HTTP (batches of
// 1 and of 100, some under an Idempotency-Key), each recording every
// acknowledged batch with its first sequence; the server is killed with
// SIGKILL in the middle of it and started again on the same data
// directory, again and again. After every restart:
//
//   - every event acknowledged is there exactly once, at the sequence its
//     acknowledgement gave (read back with ?from=, paging, through a ring
//     much smaller than what was published, so from the journal);
//   - a batch whose answer the kill took (in flight) is there whole, at
//     consecutive sequences, or not at all; a refused one is not there;
//     nothing else is;
//   - the numbering continues right after the last event kept: no gap, no
//     sequence used twice;
//   - the last acknowledged keyed batches, sent again with their keys, are
//     answered as duplicates with their original first sequence; an in-
//     flight keyed batch sent again is a duplicate at the sequence where
//     it was kept, or, when it was not kept, published now.
//
// At the end everything is read from sequence 0 and checked again, and
// the first keyed batch of every run is sent again.
//
// kill -9 takes the process, not the page cache, so every sync mode must
// keep everything acknowledged (only a power loss tells them apart; see
// docs/durability.md). The full form (10 kills after 10 to 11 s of
// publishing each, for each sync mode, about 13 minutes) runs without
// -short:
//
//	go test -run TestCrashJournalProcesses -timeout 30m -v ./cmd/badbatch/
//
// -short runs 2 kills after about 1.5 s each, for sync=interval.

const (
	crashName = "crash"
	// crashRing is the disruptor's ring: far fewer events than a run
	// publishes, so that reading them back replays from the journal.
	crashRing = 4096
	// crashPage is the limit of a read-back request (the server's most).
	crashPage = 10000
	// crashFullTime is what the full form needs of the test binary's
	// -timeout.
	crashFullTime = 20 * time.Minute
)

// crashPublishers are the four publishers: batch size, and every how
// many batches one carries an Idempotency-Key (0: never). Few enough
// keys that the server's bound on remembered keys per disruptor
// (100,000) is not reached in a full run.
var crashPublishers = []struct{ size, keyEvery int }{{1, 0}, {1, 32}, {100, 0}, {100, 4}}

// crashConfig keeps every key of the test inside the idempotency window.
const crashConfig = `
limits:
  dedup_window: 1h
`

func TestCrashJournalProcesses(t *testing.T) {
	modes, kills, publish := []string{"always", "interval", "never"}, 10, 10*time.Second
	if testing.Short() {
		modes, kills, publish = []string{"interval"}, 2, 1500*time.Millisecond
	} else if deadline, ok := t.Deadline(); ok && time.Until(deadline) < crashFullTime {
		// go test's default -timeout (10m) would kill the whole package
		// half way, with a goroutine dump instead of a verdict.
		t.Skipf("the full crash test takes about 13 minutes and the test binary's -timeout leaves %v: run it with -timeout 30m or more (the full suite: go test -race -timeout 60m ./...)", time.Until(deadline).Round(time.Second))
	}
	for _, mode := range modes {
		t.Run("sync="+mode, func(t *testing.T) {
			r := &crashRig{t: t, mode: mode, data: filepath.Join(t.TempDir(), "data"), config: writeFile(t, "crash.yaml", crashConfig),
				batches: map[string]*crashBatch{}, byCode: map[string]int{}, lastKeyed: map[int]*crashBatch{}, firstKeyed: map[int]*crashBatch{}}
			r.start()
			r.create()
			for run := 1; run <= kills; run++ {
				r.publishAndKill(run, publish+rand.N(publish/10))
				r.start()
				r.verifyRun(run)
				if t.Failed() {
					t.Fatalf("after kill %d: see the errors above", run)
				}
				r.retry(run)
			}
			r.verifyAll()
			t.Logf("sync=%s: %d kills; %d batches (%d events) acknowledged, %d in flight at a kill (%d of them kept), %d refused (%s); %d events on disk; %d keyed batches sent again answered as duplicates; acknowledged events lost or moved: %d",
				mode, kills, r.count(stateAcked), r.ackedEvents(), r.inflightTotal, r.inflightKept, r.refusedTotal, r.refusedCodes(),
				r.next, r.dupRetries, r.losses)
		})
	}
}

// batchState is what a publisher knows of a batch it sent.
type batchState uint8

const (
	stateAcked    batchState = iota + 1 // answered 2xx: first is its first sequence
	stateInflight                       // its answer was lost: kept whole or not at all
	stateRefused                        // refused: not kept
)

// crashBatch is one batch a publisher sent: the j-th event of the batch
// named name has the payload {"id":"<name>.<j>"}. Its body is made again
// when needed, so that a run's millions of events take little memory.
type crashBatch struct {
	name  string
	n     int
	key   string // its Idempotency-Key, or ""
	run   int
	state batchState
	first int64 // the acknowledged first sequence (or where an in-flight batch was found kept), else -1
	// what the last read found: events seen, and the sequence of event 0
	seen int
	at   int64
}

func newBatch(run int, name string, n int, keyed bool) *crashBatch {
	b := &crashBatch{name: name, n: n, run: run, first: -1}
	if keyed {
		b.key = name
	}
	return b
}

// body is the batch's publish request.
func (b *crashBatch) body() []byte {
	var body bytes.Buffer
	body.WriteString(`{"events":[`)
	for j := range b.n {
		if j > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"payload":{"id":"%s.%d"}}`, b.name, j)
	}
	body.WriteString(`]}`)
	return body.Bytes()
}

// crashRig is the server under test across its restarts, and what the
// publishers saw.
type crashRig struct {
	t            *testing.T
	mode         string
	data, config string
	p            *proctest.Server
	base         string // http://host:port of the running process

	mu         sync.Mutex
	batches    map[string]*crashBatch // every batch sent, by name
	inflight   []*crashBatch          // the current run's batches whose answer was lost
	byCode     map[string]int
	lastKeyed  map[int]*crashBatch // per publisher, its last acknowledged keyed batch
	firstKeyed map[int]*crashBatch // per run, its first acknowledged keyed batch
	runStart   int64               // the first sequence of the current run
	next       int64               // the next sequence, known after a verification
	unexpected []string            // what the publishers saw that they should not have

	inflightTotal, inflightKept, refusedTotal, dupRetries, losses int
}

// start starts the server on the data directory and waits until it
// serves (failing the test, with its log, when it exits instead).
func (r *crashRig) start() {
	r.t.Helper()
	r.p = proctest.Start(r.t, badbatchBin, proctest.Options{DataDir: r.data, Args: []string{"--config", r.config}})
	r.base = r.p.URL
}

// create creates the journaled disruptor.
func (r *crashRig) create() {
	t := r.t
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"buffer_size":%d,"producer_type":"multi","durability":"journal","sync":%q}`, crashName, crashRing, r.mode)
	status, b := r.do("POST", "/api/v1/disruptors", "", []byte(body))
	if status != http.StatusCreated {
		t.Fatalf("creating %s: %d %s", crashName, status, b)
	}
}

// do makes one request and returns the status and the body.
func (r *crashRig) do(method, path, key string, body []byte) (int, []byte) {
	r.t.Helper()
	status, _, b, err := request(&http.Client{Timeout: 30 * time.Second}, method, r.base+path, key, body)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, b
}

func request(hc *http.Client, method, url, key string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b, err
}

// publishResult is the answer to a publish.
type publishResult struct {
	First     int64 `json:"first_sequence"`
	Last      int64 `json:"last_sequence"`
	Count     int   `json:"count"`
	Duplicate bool  `json:"duplicate"`
	Error     struct {
		Code string `json:"code"`
	} `json:"error"`
}

// publishAndKill runs the publishers for d, kills the server with
// SIGKILL while they publish, and waits for them to see it: each goes
// on until a request fails, so that every one has a batch in flight at
// the kill.
func (r *crashRig) publishAndKill(run int, d time.Duration) {
	r.mu.Lock()
	r.inflight = nil
	r.mu.Unlock()
	var killed atomic.Bool // set just before the kill: from then on a failed request is the kill's
	var wg sync.WaitGroup
	url := r.base + "/api/v1/disruptors/" + crashName + "/events"
	for g, pub := range crashPublishers {
		wg.Go(func() {
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			for i := 0; ; i++ {
				b := newBatch(run, fmt.Sprintf("r%d-p%d-%d", run, g, i), pub.size, pub.keyEvery > 0 && i%pub.keyEvery == 0)
				r.mu.Lock()
				r.batches[b.name] = b
				r.mu.Unlock()
				status, _, body, err := request(hc, "POST", url, b.key, b.body())
				if err != nil {
					r.mu.Lock()
					b.state = stateInflight
					r.inflight = append(r.inflight, b)
					if !killed.Load() {
						r.unexpected = append(r.unexpected, fmt.Sprintf("run %d: %s before the kill: %v", run, b.name, err))
					}
					r.mu.Unlock()
					if killed.Load() {
						return
					}
					continue
				}
				r.answered(g, b, status, body) // and on, until the kill's error
			}
		})
	}
	time.Sleep(d)
	killed.Store(true)
	r.p.Kill()
	wg.Wait()
}

// answered records the answer to a batch's first sending.
func (r *crashRig) answered(g int, b *crashBatch, status int, body []byte) {
	var res publishResult
	_ = json.Unmarshal(body, &res)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case status == http.StatusOK:
		if res.Count != b.n || res.Duplicate || res.Last != res.First+int64(res.Count)-1 {
			r.unexpected = append(r.unexpected, fmt.Sprintf("run %d: %s: answer %s", b.run, b.name, body))
		}
		b.state, b.first = stateAcked, res.First
		if b.key != "" {
			r.lastKeyed[g] = b
			if r.firstKeyed[b.run] == nil {
				r.firstKeyed[b.run] = b
			}
		}
	case res.Error.Code == "OUTCOME_UNKNOWN":
		b.state = stateInflight
		r.inflight = append(r.inflight, b)
	default:
		// A refusal: nothing of the batch may be kept. Only a full
		// idempotency window is a refusal this test can cause.
		b.state = stateRefused
		r.refusedTotal++
		r.byCode[fmt.Sprintf("%d %s", status, res.Error.Code)]++
		if res.Error.Code != "DEDUP_WINDOW_FULL" {
			r.unexpected = append(r.unexpected, fmt.Sprintf("run %d: %s: %d %s", b.run, b.name, status, body))
		}
	}
}

// check reads the disruptor's events from sequence from to the end and
// checks each against the batches sent: an acknowledged batch's event at
// its acknowledged sequence, an in-flight batch's events one after the
// other, no refused or unknown event, none twice, and the numbering
// without a gap. Then every acknowledged batch that starts at from or
// later must have been seen whole, and every in-flight batch whole or
// not at all. It returns the next sequence; what (e.g. "run 3") starts
// each error.
func (r *crashRig) check(what string, from int64) int64 {
	t := r.t
	t.Helper()
	for _, b := range r.batches {
		b.seen, b.at = 0, -1
	}
	hc := &http.Client{Timeout: 60 * time.Second}
	defer hc.CloseIdleConnections()
	errs := 0
	report := func(format string, args ...any) {
		t.Helper()
		if errs++; errs <= 10 {
			t.Errorf(what+": "+format, args...)
		}
	}
	next := from
	for {
		status, _, b, err := request(hc, "GET", fmt.Sprintf("%s/api/v1/disruptors/%s/events?from=%d&limit=%d", r.base, crashName, next, crashPage), "", nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("%s: reading from %d: %d %v %.300s", what, next, status, err, b)
		}
		var page struct {
			Events []struct {
				Sequence int64 `json:"sequence"`
				Payload  struct {
					ID string `json:"id"`
				} `json:"payload"`
			} `json:"events"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatalf("%s: reading from %d: %v", what, next, err)
		}
		if len(page.Events) == 0 {
			break
		}
		for _, e := range page.Events {
			if e.Sequence != next {
				t.Fatalf("%s: event %d where %d should be: a gap in the numbering", what, e.Sequence, next)
			}
			next++
			name, js, _ := strings.Cut(e.Payload.ID, ".")
			j, _ := strconv.Atoi(js)
			bt := r.batches[name]
			if bt == nil || j >= bt.n {
				report("event %q at %d was never published", e.Payload.ID, e.Sequence)
				continue
			}
			bt.seen++
			if j == 0 && bt.at < 0 {
				bt.at = e.Sequence
			}
			switch bt.state {
			case stateAcked:
				if e.Sequence != bt.first+int64(j) {
					report("event %s at %d, acknowledged at %d", e.Payload.ID, e.Sequence, bt.first+int64(j))
				}
			case stateInflight:
				if bt.at < 0 || e.Sequence != bt.at+int64(j) {
					report("event %s (of a batch in flight at the kill) at %d, not after its batch's first event (at %d)", e.Payload.ID, e.Sequence, bt.at)
				}
			default:
				report("event %s at %d, of a batch that was refused", e.Payload.ID, e.Sequence)
			}
		}
	}
	lostBatches := 0
	for _, bt := range r.batches {
		switch {
		case bt.seen > bt.n:
			report("batch %s: %d events seen, of %d: some twice", bt.name, bt.seen, bt.n)
		case bt.state == stateAcked && bt.first >= from && bt.seen != bt.n:
			r.losses += bt.n - bt.seen
			if lostBatches++; lostBatches <= 5 {
				report("batch %s (key %q) acknowledged at %d..%d: %d of its %d events are there", bt.name, bt.key, bt.first, bt.first+int64(bt.n)-1, bt.seen, bt.n)
			}
		case bt.state == stateInflight && bt.seen != 0 && bt.seen != bt.n:
			report("batch %s, in flight at the kill: %d of its %d events kept; a batch is kept whole or not at all", bt.name, bt.seen, bt.n)
		}
	}
	if lostBatches > 0 {
		t.Errorf("%s: %d acknowledged batches are not whole at their acknowledged sequences", what, lostBatches)
	}
	if errs > 10 {
		t.Errorf("%s: %d errors in all", what, errs)
	}
	return next
}

// latest is the disruptor's latest sequence as its info says, after
// checking that the info kept its durability and sync mode.
func (r *crashRig) latest() int64 {
	t := r.t
	t.Helper()
	status, b := r.do("GET", "/api/v1/disruptors/"+crashName, "", nil)
	if status != http.StatusOK {
		t.Fatalf("the disruptor after the restart: %d %s", status, b)
	}
	var info struct {
		Latest     int64  `json:"latest_sequence"`
		BufferSize int    `json:"buffer_size"`
		Durability string `json:"durability"`
		Sync       string `json:"sync"`
	}
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	if info.Durability != "journal" || info.Sync != r.mode || info.BufferSize != crashRing {
		t.Errorf("the disruptor came back as durability %q, sync %q, buffer_size %d; created as journal, %s, %d",
			info.Durability, info.Sync, info.BufferSize, r.mode, crashRing)
	}
	return info.Latest
}

// verifyRun checks, after the restart that followed run's kill, the
// events from the run's first sequence on, and learns the next sequence.
func (r *crashRig) verifyRun(run int) {
	t := r.t
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.unexpected {
		t.Error(u)
	}
	r.unexpected = nil
	what := fmt.Sprintf("after kill %d", run)
	r.next = r.check(what, r.runStart)
	if l := r.latest(); l != r.next-1 {
		t.Errorf("%s: latest_sequence %d, but the events read end at %d", what, l, r.next-1)
	}
	acked, events, kept := 0, 0, 0
	for _, b := range r.batches {
		if b.run == run && b.state == stateAcked {
			acked++
			events += b.n
		}
	}
	for _, b := range r.inflight {
		if b.seen == b.n {
			kept++
			b.first = b.at
		}
	}
	r.inflightTotal += len(r.inflight)
	r.inflightKept += kept
	t.Logf("kill %d: %d batches (%d events) acknowledged in the run, %d in flight (%d kept); sequences %d..%d on disk",
		run, acked, events, len(r.inflight), kept, r.runStart, r.next-1)
	if acked == 0 {
		t.Errorf("%s: nothing was acknowledged in the run", what)
	}
}

// send publishes b again (its key, its body) and returns the answer.
func (r *crashRig) send(b *crashBatch) (publishResult, http.Header) {
	t := r.t
	t.Helper()
	status, h, body, err := request(&http.Client{Timeout: 30 * time.Second}, "POST", r.base+"/api/v1/disruptors/"+crashName+"/events", b.key, b.body())
	if err != nil || status != http.StatusOK {
		t.Fatalf("sending %s again: %d %v %s", b.name, status, err, body)
	}
	var res publishResult
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	return res, h
}

// retryDuplicate sends an acknowledged keyed batch again and checks that
// the answer is a duplicate at its first sequence.
func (r *crashRig) retryDuplicate(what string, b *crashBatch) {
	r.t.Helper()
	res, h := r.send(b)
	if !res.Duplicate || res.First != b.first || res.Count != b.n || h.Get("Idempotent-Replayed") != "true" {
		r.t.Errorf("%s: key %q (first sequence %d) sent again: first %d, count %d, duplicate %v, Idempotent-Replayed %q; want a duplicate at %d",
			what, b.key, b.first, res.First, res.Count, res.Duplicate, h.Get("Idempotent-Replayed"), b.first)
		return
	}
	r.dupRetries++
}

// retry, after run's verification: the last acknowledged keyed batch of
// every keyed publisher and the in-flight keyed batches are sent again
// with their keys; then one new event checks that the numbering goes on
// at the next sequence.
func (r *crashRig) retry(run int) {
	t := r.t
	t.Helper()
	for _, g := range sortedKeys(r.lastKeyed) {
		if b := r.lastKeyed[g]; b.run == run {
			r.retryDuplicate(fmt.Sprintf("after kill %d, publisher %d's last acknowledged keyed batch", run, g), b)
		}
	}
	for _, b := range r.inflight {
		if b.key == "" {
			continue
		}
		if b.first >= 0 { // kept: its acknowledgement was lost
			r.retryDuplicate(fmt.Sprintf("after kill %d, a keyed batch in flight at the kill, kept at %d,", run, b.first), b)
			continue
		}
		res, _ := r.send(b)
		if res.Duplicate || res.First != r.next {
			t.Errorf("after kill %d: key %q, in flight at the kill and not kept, sent again: first %d, duplicate %v; want it published at %d",
				run, b.key, res.First, res.Duplicate, r.next)
		}
		b.state, b.first = stateAcked, res.First
		r.next += int64(b.n)
	}
	probe := newBatch(run+1, fmt.Sprintf("r%d-probe", run), 1, false)
	r.batches[probe.name] = probe
	res, _ := r.send(probe)
	if res.First != r.next {
		t.Errorf("after kill %d: the next event got sequence %d; the last kept one is %d, so want %d", run, res.First, r.next-1, r.next)
	}
	probe.state, probe.first = stateAcked, res.First
	r.next = res.First + 1
	r.runStart = r.next
}

func sortedKeys[V any](m map[int]V) []int {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// verifyAll reads everything from sequence 0 and checks every batch ever
// sent, and that the first keyed batch of every run is still recognised
// as a duplicate.
func (r *crashRig) verifyAll() {
	t := r.t
	t.Helper()
	if n := r.check("at the end", 0); n != r.next {
		t.Errorf("at the end: %d events from sequence 0, want %d", n, r.next)
	}
	for _, run := range sortedKeys(r.firstKeyed) {
		r.retryDuplicate(fmt.Sprintf("at the end, run %d's first acknowledged keyed batch", run), r.firstKeyed[run])
	}
}

func (r *crashRig) count(s batchState) int {
	n := 0
	for _, b := range r.batches {
		if b.state == s {
			n++
		}
	}
	return n
}

func (r *crashRig) ackedEvents() int {
	n := 0
	for _, b := range r.batches {
		if b.state == stateAcked {
			n += b.n
		}
	}
	return n
}

func (r *crashRig) refusedCodes() string {
	if len(r.byCode) == 0 {
		return "none"
	}
	var out []string
	for c, n := range r.byCode {
		out = append(out, fmt.Sprintf("%s ×%d", c, n))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
