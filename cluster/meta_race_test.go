package cluster

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// TestConcurrentMetaUpdates: setters of different metadata fields called
// at the same time all take effect. Each round, four goroutines change the
// disruptor list, the API address, one tag each and the node state at
// once; afterwards every one of those changes must be in the metadata the
// node advertises, in every round (a setter that copied the metadata
// before taking the lock would put back the field another one had just
// changed).
func TestConcurrentMetaUpdates(t *testing.T) {
	n, err := New(testConfig("meta"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	rounds := 20000
	if testing.Short() {
		rounds = 5000
	}
	lost := 0
	for i := range rounds {
		want := fmt.Sprint(i)
		var wg sync.WaitGroup
		wg.Add(5)
		start := make(chan struct{})
		run := func(f func() error) {
			defer wg.Done()
			<-start
			if err := f(); err != nil {
				t.Error(err)
			}
		}
		go run(func() error { return n.SetDisruptors([]string{"d" + want}) })
		go run(func() error { return n.SetAPI("http", "127.0.0.1:"+strconv.Itoa(1+i%60000)) })
		go run(func() error { return n.SetTag("a", want) })
		go run(func() error { return n.SetTag("b", want) })
		go run(func() error { return n.SetNodeState(NodeState(1 + i%2)) })
		close(start)
		wg.Wait()
		m := n.Meta()
		ok := len(m.Disruptors) == 1 && m.Disruptors[0] == "d"+want &&
			m.APIAddr == "127.0.0.1:"+strconv.Itoa(1+i%60000) &&
			m.Tags["a"] == want && m.Tags["b"] == want && m.State == NodeState(1+i%2)
		if !ok {
			lost++
			if lost <= 3 {
				t.Errorf("round %d: an update was lost: %+v", i, m)
			}
		}
		// What is gossiped is what Meta says.
		if got, err := DecodeMeta(*n.metaBytes.Load()); err != nil || got.APIAddr != m.APIAddr || got.Tags["a"] != m.Tags["a"] {
			t.Fatalf("round %d: advertised %+v (%v), Meta %+v", i, got, err, m)
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d rounds lost an update", lost, rounds)
	}
}
