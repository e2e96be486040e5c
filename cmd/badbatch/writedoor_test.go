package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/badbatch/badbatch/cluster"
)

// replicaSlot is one member of a test group across restarts: its id, Raft
// address and data directory stay, the process changes.
type replicaSlot struct {
	id, raft, data string
	p              *serverProcess
}

func newReplicaSlot(t *testing.T, id string) *replicaSlot {
	return &replicaSlot{id: id, raft: freePort(t), data: t.TempDir()}
}

// start starts the slot's process (a restart when it ran before: the same
// node id, Raft address and data directory).
func (s *replicaSlot) start(t *testing.T, bootstrap bool, seeds ...string) *serverProcess {
	t.Helper()
	// BADBATCH_FAULTS_BINARY runs the servers from another build, as in
	// TestFaultFiguresProcesses.
	bin := badbatchBin
	if b := os.Getenv("BADBATCH_FAULTS_BINARY"); b != "" {
		bin = b
	}
	s.p = startReplicaWith(t, bin, s.id, bootstrap, []string{"--raft-bind", s.raft, "--raft-data-dir", s.data}, seeds...)
	return s.p
}

// hostile publishes to a quorum disruptor through one node in the ways
// that once bypassed Raft on a follower: with a forged
// X-Badbatch-Forwarded-By header (so the node does not forward it) and through POST
// /api/v1/events (never forwarded). It never retries an event (each
// attempt has its own ids), follows no redirect, and records what was
// acknowledged and by whom.
type hostile struct {
	t    *testing.T
	name string
	url  atomic.Pointer[string] // the node's API, http://host:port
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	acks     []ackedBatch
	answers  map[string]int // by kind, status and code
	attempts int
}

func startHostile(t *testing.T, via *serverProcess, name string) *hostile {
	h := &hostile{t: t, name: name, stop: make(chan struct{}), answers: map[string]int{}}
	h.through(via)
	for _, kind := range []string{"forged", "multi"} {
		h.wg.Add(1)
		go h.run(kind)
	}
	t.Cleanup(h.halt)
	return h
}

func (h *hostile) through(p *serverProcess) {
	u := "http://" + p.api
	h.url.Store(&u)
}

func (h *hostile) run(kind string) {
	defer h.wg.Done()
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 12 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := 0; ; i++ {
		select {
		case <-h.stop:
			return
		default:
		}
		key := fmt.Sprintf("%s-%d", kind, i)
		var evs []string
		for j := range 3 {
			evs = append(evs, fmt.Sprintf(`{"payload":{"id":"%s.%d"}}`, key, j))
		}
		var req *http.Request
		if kind == "forged" {
			req, _ = http.NewRequest("POST", *h.url.Load()+"/api/v1/disruptors/"+h.name+"/events", strings.NewReader(`{"events":[`+strings.Join(evs, ",")+`]}`))
			req.Header.Set(cluster.HeaderForwardedBy, "n9") // any client can set it
		} else {
			req, _ = http.NewRequest("POST", *h.url.Load()+"/api/v1/events",
				strings.NewReader(`{"batches":[{"disruptor":"`+h.name+`","events":[`+strings.Join(evs, ",")+`]}]}`))
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := c.Do(req)
		if err != nil {
			h.answer(kind + " transport error")
			time.Sleep(20 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var out struct {
			First   int64 `json:"first_sequence"`
			Count   int   `json:"count"`
			Results []struct {
				First *int64 `json:"first_sequence"`
				Count int    `json:"count"`
				Error *struct {
					Code string `json:"code"`
				} `json:"error"`
			} `json:"results"`
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &out)
		code := out.Error.Code
		switch {
		case kind == "forged" && res.StatusCode == http.StatusOK:
			h.ack(ackedBatch{Key: key, First: out.First, Count: out.Count})
		case kind == "multi" && len(out.Results) == 1 && out.Results[0].Error == nil && out.Results[0].First != nil:
			h.ack(ackedBatch{Key: key, First: *out.Results[0].First, Count: out.Results[0].Count})
			code = "ok"
		case kind == "multi" && len(out.Results) == 1 && out.Results[0].Error != nil:
			code = out.Results[0].Error.Code
		}
		h.answer(fmt.Sprintf("%s %d %s", kind, res.StatusCode, code))
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *hostile) ack(a ackedBatch) {
	h.mu.Lock()
	h.acks = append(h.acks, a)
	h.mu.Unlock()
}

func (h *hostile) answer(what string) {
	h.mu.Lock()
	h.answers[what]++
	h.attempts++
	h.mu.Unlock()
}

func (h *hostile) halt() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	h.wg.Wait()
}

func (h *hostile) summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for k, n := range h.answers {
		out = append(out, fmt.Sprintf("%s ×%d", k, n))
	}
	return fmt.Sprintf("%d attempts, %d acknowledged: %s", h.attempts, len(h.acks), strings.Join(out, ", "))
}

// namePoller asks one node for a quorum disruptor, as fast as it answers,
// and counts the answers by status: an existing name must never be 404.
type namePoller struct {
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	answers map[int]int
}

func pollName(p *serverProcess, name string) *namePoller {
	np := &namePoller{stop: make(chan struct{}), done: make(chan struct{}), answers: map[int]int{}}
	go func() {
		defer close(np.done)
		hc := &http.Client{Timeout: 5 * time.Second}
		defer hc.CloseIdleConnections()
		for {
			select {
			case <-np.stop:
				return
			default:
			}
			res, err := hc.Get("http://" + p.api + "/api/v1/disruptors/" + name)
			status := 0
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				status = res.StatusCode
			}
			np.mu.Lock()
			np.answers[status]++
			np.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return np
}

func (np *namePoller) halt() map[int]int {
	close(np.stop)
	<-np.done
	np.mu.Lock()
	defer np.mu.Unlock()
	return np.answers
}

// TestWriteDoorProcesses is the acceptance test of issue 12's write door
// with real processes: three `badbatch server --cluster --replication`
// processes on loopback, four keyed publishers through a follower (the
// harness of TestFaultFiguresProcesses), and, against the other follower,
// clients that publish in the ways that once bypassed Raft there: with a
// forged X-Badbatch-Forwarded-By header, and through POST
// /api/v1/events. Then the
// leader is killed with SIGKILL and restarted from its data directory,
// and so is a follower; a poller asks each restarted node for the quorum
// disruptor from the moment it serves. Finally all three are killed and
// restarted.
//
// It checks that the hostile clients got no acknowledgement from a node
// by itself (every batch any client had acknowledged is, on every node
// after the restarts, present once at its acknowledged sequence; a local
// acknowledgement would be on one node only, and move the others' events),
// that no restarted node answered 404 for the existing disruptor, and
// that publishing through the failover of a killed leader did not stall
// for the 10 s of a forward's timeout.
func TestWriteDoorProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process write door test: run without -short")
	}
	slots := map[string]*replicaSlot{}
	for _, id := range []string{"n1", "n2", "n3"} {
		slots[id] = newReplicaSlot(t, id)
	}
	n1 := slots["n1"].start(t, true)
	slots["n2"].start(t, false, n1.gossip)
	slots["n3"].start(t, false, n1.gossip)
	procs := func() []*serverProcess {
		return []*serverProcess{slots["n1"].p, slots["n2"].p, slots["n3"].p}
	}
	poll(t, 60*time.Second, "three voters", func() bool { return voterIDs(n1) == "n1,n2,n3" })
	leader, via, load := groupUnderLoad(t, procs()...)
	var other *serverProcess
	for _, p := range procs() {
		if p != leader && p != via {
			other = p
		}
	}
	bad := startHostile(t, other, "q")
	time.Sleep(3 * time.Second)
	// A follower refuses them (307 NOT_LEADER, or NOT_LEADER in the multi
	// publish's result); should the follower lead by now, they go through
	// its log, which the checks at the end see.
	t.Logf("hostile clients against the follower %s: %s", other.id, bad.summary())

	// Kill the leader; restart it once the others lead.
	killed := time.Now()
	leader.kill()
	var next *serverProcess
	poll(t, 30*time.Second, "a new leader", func() bool {
		for _, p := range procs() {
			if p != leader {
				if st, err := getRaft(p); err == nil && st.State == "leader" {
					next = p
					return true
				}
			}
		}
		return false
	})
	load.waitMore(50, 60*time.Second, "publishing after the kill")
	failover := load.window(killed, time.Now())
	t.Logf("SIGKILL of the leader %s: %s led; %s", leader.id, next.id, failover)
	if failover.maxGap > 8*time.Second {
		t.Errorf("publishing through %s stalled %v after the leader was killed: %s", via.id, failover.maxGap, failover)
	}
	restart := func(s *replicaSlot, seed *serverProcess) (map[int]int, time.Duration) {
		t.Helper()
		begun := time.Now()
		p := s.start(t, false, seed.gossip)
		np := pollName(p, "q")
		poll(t, 60*time.Second, p.id+" to be ready", func() bool {
			hc := &http.Client{Timeout: 5 * time.Second}
			defer hc.CloseIdleConnections()
			res, err := hc.Get("http://" + p.api + "/health/ready")
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == http.StatusOK
		})
		ready := time.Since(begun)
		time.Sleep(time.Second)
		return np.halt(), ready
	}
	answers, ready := restart(slots[leader.id], next)
	t.Logf("%s restarted: ready %v after it was started; GET q answered %v", leader.id, ready.Round(time.Millisecond), answers)
	if answers[http.StatusNotFound] > 0 {
		t.Errorf("the restarted %s denied the existing q %d times", leader.id, answers[http.StatusNotFound])
	}

	// Kill a follower and restart it.
	var follower *replicaSlot
	for _, s := range slots {
		if st, err := getRaft(s.p); err == nil && st.State == "follower" && s.p != via {
			follower = s
			break
		}
	}
	if follower == nil {
		t.Fatal("no follower to kill")
	}
	follower.p.kill()
	load.waitMore(50, 60*time.Second, "publishing with a follower down")
	answers, ready = restart(follower, via)
	t.Logf("follower %s restarted: ready %v; GET q answered %v", follower.id, ready.Round(time.Millisecond), answers)
	if answers[http.StatusNotFound] > 0 {
		t.Errorf("the restarted follower %s denied the existing q %d times", follower.id, answers[http.StatusNotFound])
	}
	bad.through(slots[other.id].p)
	load.waitMore(50, 60*time.Second, "publishing after the restarts")
	time.Sleep(2 * time.Second)

	load.halt()
	bad.halt()
	t.Logf("in all: %d batches acknowledged to the publishers; refusals: %s; hostile clients: %s", load.count(), load.errorCounts(), bad.summary())

	// Everything acknowledged, to anyone, is on every node once at its
	// sequence: before and after a restart of the whole group.
	load.mu.Lock()
	acked := make([]ackedBatch, 0, len(load.acks))
	for _, a := range load.acks {
		acked = append(acked, ackedBatch{Key: a.key, First: a.first, Count: a.count})
	}
	load.mu.Unlock()
	bad.mu.Lock()
	acked = append(acked, bad.acks...)
	bad.mu.Unlock()
	for _, s := range slots {
		ids := verifyAcked(t, s.p, "q", acked)
		t.Logf("%s: %d events, every acknowledged one once at its sequence", s.id, len(ids))
	}
	for _, s := range slots {
		s.p.kill()
	}
	first := slots["n1"].start(t, false)
	slots["n2"].start(t, false, first.gossip)
	slots["n3"].start(t, false, first.gossip)
	poll(t, 60*time.Second, "a leader after the restart of all three", func() bool { return leaderAmong(procs()...) != nil })
	for _, s := range slots {
		ids := verifyAcked(t, s.p, "q", acked)
		t.Logf("after restarting all three, %s: %d events, every acknowledged one once at its sequence", s.id, len(ids))
	}
}
