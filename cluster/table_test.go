package cluster

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func metaBytes(t *testing.T, m Meta) []byte {
	t.Helper()
	b, err := EncodeMeta(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// transitions renders events as "id:from>to".
func transitions(evs []MemberEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Member.ID+":"+e.From.String()+">"+e.Member.State.String())
	}
	return out
}

func TestTableLifecycle(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tb := newTable("a")
	ready := metaBytes(t, Meta{APIAddr: "b:80", State: NodeReady, Disruptors: []string{"orders"}})
	leaving := metaBytes(t, Meta{APIAddr: "b:80", State: NodeLeaving, Disruptors: []string{"orders"}})

	var evs []MemberEvent
	step := func(e []MemberEvent) { evs = append(evs, e...) }

	step(tb.join(nodeInfo{name: "a", addr: "127.0.0.1:1"}, at(0)))
	step(tb.join(nodeInfo{name: "b", addr: "127.0.0.1:2", meta: ready}, at(0)))
	step(tb.join(nodeInfo{name: "c", addr: "127.0.0.1:3", meta: ready}, at(0)))

	// Nobody is due before the check threshold; then b and c are, not a.
	if got := tb.due(at(100), 300*time.Millisecond, 10); len(got) != 0 {
		t.Fatalf("due too early: %v", got)
	}
	step(tb.ack("b", 2*time.Millisecond, at(200)))
	due := tb.due(at(400), 300*time.Millisecond, 10)
	if len(due) != 1 || due[0].name != "c" {
		t.Fatalf("due = %v, want c only", due)
	}
	if again := tb.due(at(400), 300*time.Millisecond, 10); len(again) != 0 {
		t.Fatalf("a member being pinged is due again: %v", again)
	}
	// c misses its ping: suspect. An ack brings it back.
	step(tb.missed("c", at(400), at(500)))
	tb.done("c")
	step(tb.ack("c", time.Millisecond, at(600)))
	// b misses a ping sent before its last ack: not suspect.
	step(tb.missed("b", at(150), at(700)))
	// c misses again, then memberlist declares it dead.
	step(tb.missed("c", at(700), at(800)))
	step(tb.leave(nodeInfo{name: "c", addr: "127.0.0.1:3", meta: ready}, at(1800)))
	// b announces it is leaving, then leaves.
	step(tb.update(nodeInfo{name: "b", addr: "127.0.0.1:2", meta: leaving}, at(1900)))
	step(tb.leave(nodeInfo{name: "b", addr: "127.0.0.1:2"}, at(2000)))
	// c comes back (restart with the same id).
	step(tb.join(nodeInfo{name: "c", addr: "127.0.0.1:4", meta: ready}, at(3000)))

	want := []string{
		"a:unknown>alive", "b:unknown>alive", "c:unknown>alive",
		"c:alive>suspect", "c:suspect>alive",
		"c:alive>suspect", "c:suspect>dead",
		"b:alive>left",
		"c:dead>alive",
	}
	if diff := cmp.Diff(want, transitions(evs)); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}

	ms := tb.snapshot()
	if len(ms) != 3 || ms[0].ID != "a" || !ms[0].Local || ms[2].Addr != "127.0.0.1:4" {
		t.Fatalf("snapshot = %+v", ms)
	}
	if ms[1].State != StateLeft || !ms[1].Since.Equal(at(2000)) {
		t.Errorf("b = %v since %v", ms[1].State, ms[1].Since)
	}
	if ms[2].RTT != time.Millisecond || !ms[2].Hosts("orders") {
		t.Errorf("c = %+v", ms[2])
	}
	c := tb.counts()
	if c[StateAlive] != 2 || c[StateLeft] != 1 {
		t.Errorf("counts = %v", c)
	}
	// Left and dead members are forgotten after the dead timeout.
	if got := tb.forget(at(2500), time.Second); len(got) != 0 {
		t.Errorf("forgot %v too early", got)
	}
	if got := tb.forget(at(3100), time.Second); len(got) != 1 || got[0] != "b" {
		t.Errorf("forget = %v, want [b]", got)
	}
}

func TestTableBadMeta(t *testing.T) {
	tb := newTable("a")
	tb.join(nodeInfo{name: "b", addr: "x:1", meta: []byte{7, 7}}, time.Unix(1, 0))
	m, _ := tb.get("b")
	if m.MetaError == "" || m.Routable() {
		t.Errorf("member with bad metadata: %+v", m)
	}
}

func TestTableSnapshotIsACopy(t *testing.T) {
	tb := newTable("a")
	tb.join(nodeInfo{name: "b", addr: "x:1", meta: metaBytes(t, Meta{Disruptors: []string{"d"}})}, time.Unix(1, 0))
	m, _ := tb.get("b")
	m.Disruptors[0] = "changed"
	again, _ := tb.get("b")
	if again.Disruptors[0] != "d" {
		t.Error("a snapshot shares its slice with the table")
	}
}
